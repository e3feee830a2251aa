"""Telemetry sampled down under outbox pressure: a real outbox with no link (rows pile
up as when the Wi-Fi is gone), a vehicle session on the ELM327 simulator, and the
counter as a Prometheus scrape renders it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from agent.pipelines.outbox_sink import OutboxSink
from agent.pipelines.telemetry_pressure import OutboxPressure, downsample
from agent.pipelines.vehicle import VehicleSession
from agent.records import TelemetryRecord, parse_record
from agent.service.metrics import AgentMetrics
from drivers.obd2.store import MemoryStore
from simulators.elm327 import serve_tcp
from sync.outbox import Outbox
from tests.support.obd import FAST
from tests.support.sync import until

pytestmark = pytest.mark.anyio


async def test_pressure_turns_on_at_the_threshold_and_off_below_half(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        sink = OutboxSink(ob, shop="s", agent="a")
        p = OutboxPressure(ob, max_pending=10, max_age_s=3600)
        for _ in range(9):
            await sink.emit("alert", {"severity": "info", "code": "x", "message": "m"})
        assert p.update(await ob.stats()) is False
        await sink.emit("alert", {"severity": "info", "code": "x", "message": "m"})
        assert p.update(await ob.stats()) is True
        await ob.mark_sent(range(1, 5))  # the broker took 4: 6 pending, >= half, stays on
        assert p.update(await ob.stats()) is True
        await ob.mark_sent(range(5, 7))  # 4 pending: off
        assert p.update(await ob.stats()) is False
        assert p.episodes == 1


def test_downsample_keeps_the_latest_of_each_pid() -> None:
    batch = [{"pid": "RPM", "value": 1}, {"pid": "SPEED", "value": 2}, {"pid": "RPM", "value": 3}]
    assert downsample(batch) == [{"pid": "SPEED", "value": 2}, {"pid": "RPM", "value": 3}]


async def test_telemetry_is_sampled_down_while_the_outbox_is_under_pressure(tmp_path: Path) -> None:
    metrics = AgentMetrics(version="t")
    async with Outbox(tmp_path / "o.sqlite3") as ob, serve_tcp(profile="petrol-can", timing=FAST) as srv:
        sink = OutboxSink(ob, shop="s", agent="a")
        # No link: every record stays pending. Pressure from the 4th pending row on.
        pressure = OutboxPressure(ob, max_pending=4, max_age_s=3600, every_s=0.02)
        vs = VehicleSession("bay1", srv.url, sink, pids=["RPM", "SPEED"], hz=10.0, store=MemoryStore(),
                            batch_s=0.3, pressure=pressure)  # fmt: skip
        metrics.parts.vehicles["bay1"] = vs
        metrics.parts.pressure = pressure
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            watch = tg.create_task(pressure.run())
            run = tg.create_task(vs.run(stop=stop))
            await until(lambda: vs.stats.telemetry_records >= 8, what="8 telemetry records")
            scrape = generate_latest(metrics.registry).decode()
            stop.set()
            await run
            watch.cancel()
        rows = await ob.pending(limit=1000)
    tel = [r for r in (parse_record(row.payload) for row in rows) if isinstance(r, TelemetryRecord)]
    full = [t for t in tel if not t.sampled_down]
    down = [t for t in tel if t.sampled_down]
    assert full and down, "records before and after the outbox came under pressure"
    assert max(len(t.samples) for t in full) > 2  # 10 Hz x 0.3 s of two PIDs
    assert all(sorted(s.pid for s in t.samples) == ["RPM", "SPEED"] for t in down)
    assert vs.stats.downsampled > 0
    line = next(ln for ln in scrape.splitlines() if ln.startswith("baygate_telemetry_downsampled_total{"))
    assert line.startswith('baygate_telemetry_downsampled_total{dongle="bay1"}')
    assert 0 < float(line.split()[-1]) <= vs.stats.downsampled  # scraped before the last flush
    assert "baygate_telemetry_pressure 1.0" in scrape
