"""The pipelines `baygate run` starts from the config: one vehicle session per dongle,
one scan station per camera, and the enrichment service fed by what they emit.

Every pipeline emits through the outbox sink. Enrichment hears about scans and vehicle
reports through `EnrichmentFeed`, a sink wrapper that hands each committed record to a
bounded queue (1,000 records): the scan is already durable when it is queued, so
enrichment never holds a scan back, and a full queue slows producers instead of
dropping anything (docs/design.md: bounded queues, no silent drops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agent.config import Config
from agent.enrich.connectors.spec import load_serial_rules
from agent.enrich.probes import ProbeResult, Probes, probe_targets
from agent.enrich.service import EnrichmentService
from agent.pipelines.camera_sources import source_for
from agent.pipelines.outbox_sink import OutboxSink
from agent.pipelines.scan_station import ScanStation
from agent.pipelines.sink import Pipeline, RecordSink
from agent.pipelines.telemetry_pressure import OutboxPressure
from agent.pipelines.vehicle import VehicleSession, vehicle_session_for
from agent.records import Envelope
from agent.service.health import HealthRegistry, Status
from agent.service.metrics import AgentMetrics, PipelineParts
from drivers.camera.ocr import VinOcr
from drivers.obd2.session import LinkState

__all__ = ["EnrichmentFeed", "Pipeline", "agent_pipeline"]

log = logging.getLogger("baygate.pipelines")

_FEED_KINDS = ("scan", "vehicle_report")


class EnrichmentFeed:
    """A sink that forwards to `inner` and queues scans and vehicle reports for enrichment."""

    def __init__(self, inner: RecordSink, maxsize: int = 1000) -> None:
        self.inner = inner
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize)
        self.shop = str(getattr(inner, "shop", "unknown"))

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = await self.inner.emit(kind, body, ts)
        if kind in _FEED_KINDS:
            await self.queue.put(rec)
        return rec

    async def drain_into(self, service: EnrichmentService) -> None:
        while True:
            rec = await self.queue.get()
            try:
                await service.on_record(rec)
            except Exception:  # one bad record must not stop enrichment of the rest
                log.exception("enrichment intake failed for %s", rec.id)


def _vehicle_check(name: str, vehicle: VehicleSession) -> Callable[[], tuple[Status, str]]:
    def check() -> tuple[Status, str]:
        s = vehicle.session.state
        # An absent dongle is normal between cars: warn, never fail.
        return ("pass" if s is LinkState.READY else "warn"), f"{name}: {s.value}"

    return check


def _camera_check(station: ScanStation) -> Callable[[], tuple[Status, str]]:
    def check() -> tuple[Status, str]:
        h = station.health()
        if h is None:
            return "warn", f"{station.camera}: not started"
        status: Status = "pass" if h.state in ("ok", "ended") else "warn"
        return status, f"{station.camera}: {h.state}, {h.frames} frames, {h.reopens} reopens"

    return check


def _service_check(probes: Probes, name: str) -> Callable[[], tuple[Status, str]]:
    def check() -> tuple[Status, str]:
        res = probes.results.get(name)
        if res is None:
            return "warn", f"{name}: not probed yet"
        # A remote service down is "warn": enrichment waits in its durable queue.
        return ("pass" if res.up else "warn"), f"{name}: {res.detail} in {res.duration_s * 1000:.0f} ms"

    return check


def _probes(
    config: Config, service: EnrichmentService, sink: RecordSink, health: HealthRegistry | None
) -> Probes:
    """Scheduled health checks of NHTSA and each manufacturer API: /health checks, and an
    alert record on each change (service_down / service_up)."""

    async def on_change(name: str, res: ProbeResult) -> None:
        if res.up:
            body = {"severity": "info", "code": "service_up", "message": f"{name} answers ({res.detail})"}
        else:
            body = {"severity": "warning", "code": "service_down", "message": f"{name} down: {res.detail}"}
        await sink.emit("alert", body)

    targets = probe_targets(config.enrich, service.registrar.connectors)
    probes = Probes(targets, every_s=config.enrich.probe_every_s, on_change=on_change)
    for name in targets:
        if health is not None:
            health.register(f"service:{name}", _service_check(probes, name))
    return probes


async def _serve(service: EnrichmentService, feed: EnrichmentFeed) -> None:
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(service.run())
            tg.create_task(feed.drain_into(service))
    finally:
        await service.aclose()


def agent_pipeline(
    config: Config,
    health: HealthRegistry | None = None,
    vehicles: dict[str, VehicleSession] | None = None,
    *,
    metrics: AgentMetrics | None = None,
    **vehicle_kw: Any,
) -> Pipeline:
    """One pipeline running every configured dongle, camera and the enrichment service
    in its own TaskGroup (owned by the runtime's TaskGroup above it). `vehicles`, when
    given, is filled with each dongle's session (the bay screen asks them for post-scans);
    with `metrics`, each part is put where the metrics collector reads it at scrape time."""

    async def run(sink: RecordSink) -> None:
        parts = metrics.parts if metrics is not None else PipelineParts()
        parts.reset()  # a restart after remote configuration starts from the new config
        feed = EnrichmentFeed(sink) if config.enrich.enabled else None
        parts.feed = feed
        out: RecordSink = feed or sink
        rules = await asyncio.to_thread(load_serial_rules, config.enrich.manufacturers_dir)
        async with asyncio.TaskGroup() as tg:
            if isinstance(sink, OutboxSink) and config.obd.dongles:
                # Telemetry is sampled down while the outbox is under pressure.
                parts.pressure = pressure = OutboxPressure(sink.outbox)
                tg.create_task(pressure.run())
                vehicle_kw.setdefault("pressure", pressure)
            if feed is not None:
                service = await EnrichmentService.open(config.enrich, config.agent.state_dir, sink)
                parts.enrichment = service
                tg.create_task(_serve(service, feed))
                if config.enrich.probe_every_s > 0:
                    parts.probes = probes = _probes(config, service, sink, health)
                    tg.create_task(probes.run())
            for dongle in config.obd.dongles:
                vehicle = vehicle_session_for(dongle, config.obd, out, config.agent.state_dir, **vehicle_kw)
                parts.vehicles[dongle.name] = vehicle
                if vehicles is not None:
                    vehicles[dongle.name] = vehicle
                if health is not None:
                    health.register(f"dongle:{dongle.name}", _vehicle_check(dongle.name, vehicle))
                tg.create_task(vehicle.run())
            # One OCR engine for every camera (~230 MB of models each; its lock makes the
            # cameras take turns, and its threads already fill the Pi's cores).
            ocr = VinOcr() if config.cameras else None
            for cam in config.cameras:
                station = ScanStation(
                    cam.name, out, formats=list(cam.formats), rules=rules, ocr=ocr,
                    dedupe_window_s=cam.dedupe_window_s,
                )  # fmt: skip
                parts.stations[cam.name] = station
                if health is not None:
                    health.register(f"camera:{cam.name}", _camera_check(station))
                tg.create_task(station.run(source_for(cam)))
            log.info(
                "pipelines: %d dongle(s), %d camera(s), enrichment %s",
                len(config.obd.dongles), len(config.cameras), "on" if feed else "off",
            )  # fmt: skip

    return run
