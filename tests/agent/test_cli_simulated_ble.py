"""`--simulated-ble [PROFILE]`: the BLE path from the command line without a radio (issue 12).

Each test runs `python -m agent` as a user would (a subprocess); our real BLE transport
(bleak, scan by name or address, GATT layout choice, notification reassembly) runs over
the ELM327 simulator's fake bleak backends, never over BlueZ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.elm327 import demo_dongles, load_profile
from sync.store import open_store
from tests.support.agent_process import agent_process, stops_cleanly_on_sigterm
from tests.support.broker import Broker, free_port
from tests.support.sync import ingest, until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


def baygate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_discover_lists_the_simulated_dongles() -> None:
    r = baygate("obd", "discover", "--simulated-ble", "--timeout", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    found = {c["name"]: c for c in map(json.loads, r.stdout.splitlines())}
    assert set(found) == {d.name for d in demo_dongles()}
    assert found["OBDII"] == {"name": "OBDII", "address": "AA:BB:CC:00:00:02", "rssi": -71, "layout": "ffe0"}
    # The one that hides its service is still listed: its name looks like an OBD dongle.
    assert found["OBDLink CX"]["layout"] is None


@pytest.mark.parametrize(
    ("flag", "url", "car"),
    [
        # The flag alone: each dongle in its own car (OBDII is in the diesel).
        (["--simulated-ble"], "ble://name=OBDII", "diesel-can"),
        # PROFILE puts every dongle in that car; an address works as a name does.
        (["--simulated-ble", "petrol-can"], "ble://AA:BB:CC:00:00:05", "petrol-can"),
    ],
)
def test_read_returns_the_simulated_cars_vin(flag: list[str], url: str, car: str) -> None:
    r = baygate("obd", "read", "--json", "--url", url, *flag)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["vin"] == load_profile(car).vin
    assert report["protocol"].startswith("ISO 15765-4")


def test_an_unknown_profile_is_a_usage_error_naming_the_known_ones() -> None:
    r = baygate("obd", "read", "--url", "ble://name=OBDII", "--simulated-ble", "no-such-car")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    error = r.stderr.strip().splitlines()[-1]
    assert "--simulated-ble" in error and "no-such-car" in error and "petrol-can" in error


async def test_run_reads_a_configured_ble_dongle_over_the_simulated_radio(
    broker: Broker, tmp_path: Path
) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(
        f'[agent]\nshop_id = "shop-ble"\nagent_id = "bay-ble"\nstate_dir = "{tmp_path / "state"}"\n'
        '[[obd.dongles]]\nname = "bay1"\nurl = "ble://name=OBDII"\n'
        f'[enrich]\nenabled = false\n[mqtt]\nurl = "{broker.url}"\n[api]\nport = {free_port()}\n'
    )
    db = tmp_path / "b.sqlite3"

    def vins() -> list[str]:
        if not db.exists():
            return []
        store = open_store(str(db))
        try:
            rows = store.records("bay-ble")
        finally:
            store.close()
        return [json.loads(p)["vin"] for (_, _, _, kind, p) in rows if kind == "vehicle_report" and p]

    async with ingest(broker.url, db):
        with agent_process("--config", str(conf), "run", "--simulated-ble", "truck-can29") as proc:
            await until(lambda: bool(vins()), timeout=60, what="a vehicle report from the simulated radio")
            assert vins() == [load_profile("truck-can29").vin]
            await stops_cleanly_on_sigterm(proc, 30)
