"""`baygate obd clear` and `read --monitors` as a user runs them: the CLI as a
subprocess against the ELM327 simulator (issue 14 item 4)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.records import DtcClearRecord, parse_record
from simulators.elm327 import serve_tcp
from tests.support.obd import FAST

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


async def _baygate(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        "obd",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_clear_without_confirm_is_a_usage_error() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        code, out, err = await _baygate("clear", "--url", srv.url)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "baygate obd: clear erases DTCs, freeze frames and readiness; add --confirm to do it"
    ]


async def test_clear_is_refused_while_the_engine_runs_and_recorded() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        code, out, _ = await _baygate("clear", "--url", srv.url, "--confirm", "--json")
        codes = {c for e in srv.simulation.profile.ecus for c in e.stored}
    assert code == 1
    rec = parse_record(out)
    assert isinstance(rec, DtcClearRecord) and rec.outcome == "refused"
    assert rec.reason is not None and "engine runs" in rec.reason
    assert {d.code for d in rec.before.stored} == {"P0301", "P0133"} and rec.after is None
    assert codes == {"P0301", "P0133"}  # the car still has them


async def test_clear_with_the_engine_off() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["engine-off"]) as srv:
        code, out, _ = await _baygate("clear", "--url", srv.url, "--confirm", "--json")
    assert code == 0
    rec = parse_record(out)
    assert isinstance(rec, DtcClearRecord) and rec.outcome == "cleared" and rec.ecus == ["7E8", "7E9"]
    assert rec.vin == "1FTFW1ET9DFC10312"
    assert {d.code for d in rec.before.pending} == {"P0420", "P0741"}
    assert rec.after is not None and rec.after.stored == [] and rec.after.pending == []
    assert [d.code for d in rec.after.permanent] == ["P0301"]


async def test_read_with_monitors_prints_named_results() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        code, out, err = await _baygate("read", "--url", srv.url, "--monitors")
        jcode, jout, _ = await _baygate("read", "--url", srv.url, "--monitors", "--json")
    assert code == 0 and jcode == 0, err
    assert "test FAIL:  catalyst monitor bank 1: manufacturer test 0x80: 0.703125 ratio" in out
    assert "test pass:  misfire cylinder 1: misfire count, last/current driving cycle: 187 counts" in out
    assert "ECU 7E9:    TCM-TransmissionCtl; TCM-6R80-0417 (CVN 9ABCDEF0)" in out
    tests = json.loads(jout)["monitor_tests"]
    assert len(tests) == 18 and {t["monitor"] for t in tests} >= {
        "misfire cylinder 6",
        "catalyst monitor bank 2",
    }


@pytest.mark.parametrize(
    "argv", [["obd", "discover", "--timeout", "1"], ["obd", "read", "--url", "ble://AA:BB:CC:DD:EE:FF"]]
)
def test_without_bluez_ble_says_what_to_start(argv: list[str], tmp_path: Path) -> None:
    # A Pi (or CI box) without the system D-Bus or BlueZ: one line naming what to start.
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-system-bus"}
    r = subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )
    assert r.returncode == 1, r
    assert "BlueZ is not reachable over D-Bus" in r.stderr and "systemctl start dbus bluetooth" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
