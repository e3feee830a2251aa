"""The vehicle session end to end on the simulator: records through a MemorySink,
reconnects when the dongle drops, and the `baygate obd` CLI's JSON shapes."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from agent.cli import obd as obd_cli
from agent.pipelines.sink import MemorySink
from agent.pipelines.vehicle import MAX_ERRORS, VehicleSession
from agent.records import TelemetryRecord, VehicleReportRecord
from drivers.obd2.store import MemoryStore
from resilience import Backoff, BackoffPolicy
from simulators.elm327 import serve_tcp
from tests.support.obd import FAST

pytestmark = pytest.mark.anyio


async def _run_until(vs: VehicleSession, sink: MemorySink, telemetry: int, seconds: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(vs.run(stop=stop))
    for _ in range(int(seconds / 0.05)):
        if len(sink.of_kind("telemetry")) >= telemetry:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_report_then_telemetry_batches() -> None:
    sink = MemorySink()
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        vs = VehicleSession(
            "bay1",
            srv.url,
            sink,
            pids=["RPM", "SPEED", "COOLANT_TEMP"],
            hz=10.0,
            store=MemoryStore(),
            batch_s=0.3,
        )
        await _run_until(vs, sink, telemetry=3)
    reports = sink.of_kind("vehicle_report")
    assert len(reports) == 1
    rep = reports[0]
    assert isinstance(rep, VehicleReportRecord)
    assert rep.vin == "1FTFW1ET9DFC10312" and rep.vin_valid and rep.dongle == "bay1"
    assert {d.code for d in rep.dtcs.stored} == {"P0301", "P0133"}
    assert rep.dtcs.stored[0].description and rep.dtcs.stored[0].ecu == "7E8"
    assert rep.readiness is not None and rep.readiness.mil
    assert rep.freeze_frame is not None and rep.freeze_frame.dtc == "P0301"
    assert rep.protocol == "ISO 15765-4 (CAN 11/500)" and rep.ecus == ["7E8", "7E9"]
    tel = sink.of_kind("telemetry")
    assert len(tel) >= 3
    first = tel[0]
    assert isinstance(first, TelemetryRecord) and first.vin == rep.vin
    names = {s.pid for t in tel for s in t.samples if isinstance(t, TelemetryRecord)}
    assert names == {"RPM", "SPEED", "COOLANT_TEMP"}
    # Report first, then telemetry, in sequence order.
    assert sink.records[0].kind == "vehicle_report"  # type: ignore[attr-defined]


async def test_dongle_drops_and_comes_back_without_a_duplicate_report() -> None:
    sink = MemorySink()
    async with serve_tcp(profile="diesel-can", timing=FAST, faults=["drop:30"]) as srv:
        vs = VehicleSession("bay2", srv.url, sink, pids=["RPM", "SPEED"], hz=None, batch_s=0.05)
        await _run_until(vs, sink, telemetry=1_000_000, seconds=1.5)
    assert vs.stats.link_losses >= 1 and vs.stats.connects >= 2
    assert len(sink.of_kind("vehicle_report")) == 1  # same car after the reconnect
    assert len(sink.of_kind("telemetry")) >= 1


class RecordingBackoff(Backoff):
    def __init__(self, policy: BackoffPolicy) -> None:
        super().__init__(policy)
        self.delays: list[float] = []

    def next_delay(self) -> float:
        self.delays.append(super().next_delay())
        return self.delays[-1]


@pytest.mark.parametrize("fault", ["drop:1", "drop:2", "drop:4"])
async def test_a_dongle_that_connects_and_drops_is_retried_with_backoff(fault: str) -> None:
    # Issue 12: connect, drop at once, reconnect at once: ~100 attempts a second.
    # Every attempt after the first must follow a backoff wait that grows until the
    # connection has stayed healthy (30 s here, never in this test).
    sink = MemorySink()
    backoff = RecordingBackoff(BackoffPolicy(first_s=0.01, cap_s=0.08, jitter=0.0, healthy_after_s=30))
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=[fault]) as srv:
        vs = VehicleSession("bay4", srv.url, sink, pids=["RPM"], hz=None, batch_s=0.05, backoff=backoff)
        await _run_until(vs, sink, telemetry=1_000_000, seconds=1.0)
    failed_connects = len(vs.stats.errors) - vs.stats.link_losses
    attempts = vs.stats.connects + failed_connects
    assert vs.stats.link_losses + len(vs.stats.errors) >= 3, vs.stats
    assert backoff.delays[:4] == [0.01, 0.02, 0.04, 0.08]
    assert all(d == 0.08 for d in backoff.delays[4:])
    # 1 s of 0.01+0.02+0.04+0.08+0.08... allows ~14 waits; without backoff it was hundreds.
    assert len(backoff.delays) <= 16 and attempts <= len(backoff.delays) + 1


async def test_unreachable_dongle_keeps_retrying_without_crashing(port: int) -> None:
    sink = MemorySink()
    vs = VehicleSession("bay3", f"tcp://127.0.0.1:{port}", sink, pids=["RPM"])
    await asyncio.wait_for(vs.run(max_connect_attempts=2), 10)
    assert vs.stats.connects == 0 and len(vs.stats.errors) == 2 and sink.records == []


async def test_errors_of_a_dongle_that_never_answers_are_bounded(port: int) -> None:
    # Unplugged for a week at the 30 s cap is ~20,000 errors: the newest MAX_ERRORS are
    # kept and the rest counted.
    sink = MemorySink()
    quick = Backoff(BackoffPolicy(first_s=0.001, cap_s=0.001, jitter=0.0))
    vs = VehicleSession("bay5", f"tcp://127.0.0.1:{port}", sink, pids=["RPM"], backoff=quick)
    await asyncio.wait_for(vs.run(max_connect_attempts=MAX_ERRORS + 25), 60)
    assert len(vs.stats.errors) == MAX_ERRORS and vs.stats.errors_dropped == 25
    assert vs.stats.connects == 0 and sink.records == []


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    obd_cli.add_arguments(parser)
    return parser.parse_args(argv)


async def _cli(argv: list[str]) -> int:
    return await obd_cli._main(_args(argv), None)


async def test_cli_read_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        assert await _cli(["read", "--json", "--url", srv.url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "vin",
        "protocol",
        "ecus",
        "dtcs",
        "readiness",
        "freeze_frame",
        "ecu_info",
        "monitor_tests",
    }
    assert out["monitor_tests"] == []  # Mode 06 only with --monitors
    assert out["ecu_info"][0] == {
        "ecu": "7E8",
        "name": "ECM-EngineControl",
        "calibration_ids": ["DFC1-14C204-AB", "DFC1-12A650-CD"],
        "cvns": ["1A2B3C4D", "5E6F7081"],
    }
    assert set(out["dtcs"]) == {"stored", "pending", "permanent"}
    assert out["dtcs"]["pending"][0] == {
        "code": "P0420",
        "description": "Catalyst system efficiency below threshold (bank 1)",
    }
    assert out["vin"] == "1FTFW1ET9DFC10312" and out["freeze_frame"]["frame"] == 0


async def test_cli_watch_json_lines_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        code = await _cli(["watch", "--json", "--url", srv.url, "--pids", "RPM,SPEED", "--duration", "0.3"])
    assert code == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"]["values_per_s"] > 0
    readings = lines[:-1]
    assert readings and set(readings[0]) == {"pid", "value", "unit", "ts"}
    assert {r["pid"] for r in readings} == {"RPM", "SPEED"}


async def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], port: int) -> None:
    assert await _cli(["read", "--url", "bogus://x"]) == 2
    assert await _cli(["read", "--url", f"tcp://127.0.0.1:{port}"]) == 1
    assert await _cli(["watch", "--url", f"tcp://127.0.0.1:{port}", "--pids", "NOPE"]) == 2
    err = capsys.readouterr().err
    assert "unknown scheme" in err and "DongleNotFound" in err and "unknown PID" in err


async def test_cli_discover_with_fake_scanner(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["discover", "--json", "--timeout", "0.3", "--simulated-ble"]
    assert await _cli(argv) == 0
    found = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert {f["layout"] for f in found} >= {"fff0", "ffe0", "nus"}
    assert all(set(f) == {"name", "address", "rssi", "layout"} for f in found)


async def test_configured_dongle_remembered_in_the_state_dir(state_dir: Path) -> None:
    from agent.config import DongleConfig, ObdSection
    from agent.pipelines.vehicle import vehicle_session_for

    sink = MemorySink()
    obd = ObdSection(telemetry_pids=["RPM"], telemetry_hz=10.0)
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        cfg = DongleConfig(name="bay1", url=srv.url)
        first = vehicle_session_for(cfg, obd, sink, state_dir)
        await first.session.connect()
        await first.session.close()
        assert not first.session.warm
        assert "bay1" in json.loads((state_dir / "obd-dongles.json").read_text())
        again = vehicle_session_for(cfg, obd, sink, state_dir)  # e.g. after an agent restart
        await again.session.connect()
        assert again.session.warm and again.session.protocol == "6"
        await again.session.close()


def test_ble_layout_from_config_reaches_the_url(state_dir: Path) -> None:
    from agent.config import DongleConfig, ObdSection
    from agent.pipelines.vehicle import vehicle_session_for

    cfg = DongleConfig(name="bay2", url="ble://AA:BB:CC:DD:EE:FF", profile="nus")
    vs = vehicle_session_for(cfg, ObdSection(), MemorySink(), state_dir)
    assert vs.url == "ble://AA:BB:CC:DD:EE:FF?layout=nus"
    assert vs.session.transport.description == "ble://AA:BB:CC:DD:EE:FF"
