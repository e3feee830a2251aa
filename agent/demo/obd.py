"""Demo step: a BLE scan -> a simulated OBD dongle in a car -> vehicle report -> telemetry.

The ELM327 simulator's fake radio (the neighbourhood `baygate obd ... --simulated-ble`
uses: five dongles, the BLE timing model of 30 ms a round trip, 15 ms ECU, notifications
split at random points) stands in for BlueZ. Our real discovery picks the strongest
dongle as a technician would, and our BLE transport (scan by address, then connect),
session and vehicle pipeline run above it and emit through ctx.sink.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from agent.pipelines.vehicle import VehicleSession
from agent.records import TelemetryRecord, VehicleReportRecord
from drivers.obd2.discovery import discover
from drivers.obd2.store import MemoryStore
from drivers.obd2.transports import transport_for_url
from simulators.elm327 import BLE_ECU_MS, BLE_RTT_MS, FakeBluetooth, demo_dongles

if TYPE_CHECKING:  # agent.demo.runner lists this step: a runtime import would be circular
    from agent.demo.runner import DemoContext

__all__ = ["step"]

SCAN_S = 0.5  # the fake radio advertises every 100 ms
PIDS = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS", "MAF"]
STREAM_S = 2.0


async def step(ctx: DemoContext) -> None:
    radio = FakeBluetooth(demo_dongles(rtt_ms=BLE_RTT_MS, ecu_ms=BLE_ECU_MS, random_split=True))
    found = await discover(SCAN_S, backend=radio.scanner)
    if not found:
        raise RuntimeError("the BLE scan saw none of the simulated dongles")
    best = found[0]  # strongest first: the one in this bay
    names = ", ".join(f"{c.name} {c.rssi} dBm" for c in found)
    ctx.say(f"BLE scan ({SCAN_S:g} s, the simulator's radio): {len(found)} OBD dongles: {names}")
    url = best.url
    ctx.services["obd.ble"] = url
    vs = VehicleSession(
        "demo-dongle",
        url,
        ctx.sink,
        pids=PIDS,
        hz=None,  # as fast as the link allows, to show the figure
        store=MemoryStore(),
        transport_factory=lambda: transport_for_url(
            url, ble_backend=radio.client, ble_scanner_backend=radio.scanner
        ),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(vs.run(stop=stop, max_connect_attempts=3))
    t0 = time.monotonic()
    for _ in range(400):  # up to 20 s for the report (connect ~2.5 s cold with ATZ)
        if vs.report is not None or task.done():
            break
        await asyncio.sleep(0.05)
    report = vs.report
    if report is None:
        stop.set()
        await task
        raise RuntimeError(f"no vehicle report from the simulated dongle: {list(vs.stats.errors)}")
    took = time.monotonic() - t0
    streaming = time.monotonic()
    samples_before = vs.stats.samples
    await asyncio.sleep(STREAM_S)
    stop.set()
    async with asyncio.timeout(10):
        await task
    rate = (vs.stats.samples - samples_before) / (time.monotonic() - streaming)
    ctx.say(f"dongle {url} ({best.name}, split notifications): report in {took:.2f} s")
    ctx.say(f"VIN {report.vin} (check digit {'ok' if report.vin_valid else 'WRONG'}), {report.protocol}")
    for mode, dtcs in report.dtcs.items():
        listed = ", ".join(f"{d.code} {d.description or ''}".strip() for d in dtcs)
        ctx.say(f"DTCs {mode}: {listed or 'none'}")
    if report.readiness:
        r = report.readiness
        pending = [n for n, m in r.monitors.items() if m["supported"] and not m["complete"]]
        ctx.say(f"MIL {'on' if r.mil else 'off'}, monitors not ready: {', '.join(pending) or 'none'}")
    reports = [r for r in _records(ctx) if isinstance(r, VehicleReportRecord)]
    telemetry = [r for r in _records(ctx) if isinstance(r, TelemetryRecord)]
    ctx.say(
        f"live data: {len(PIDS)} PIDs at {rate:.0f} values/s; records emitted: "
        f"{len(reports)} vehicle_report, {len(telemetry)} telemetry"
    )
    latest = {s.pid: s for t in telemetry for s in t.samples}  # the last value of each PID
    shown = [f"{p} {_value(latest[p].value)} {latest[p].unit or ''}".rstrip() for p in PIDS if p in latest]
    ctx.say(f"live values: {', '.join(shown) or 'none yet'}")
    if not reports or rate <= 0:
        raise RuntimeError("the vehicle session emitted no report or no telemetry")
    ctx.say(
        "try it: baygate obd discover --simulated-ble; baygate obd read --simulated-ble --url ble://name=OBDII"
    )


def _value(v: object) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _records(ctx: DemoContext) -> list[object]:
    return list(getattr(ctx.sink, "records", []))
