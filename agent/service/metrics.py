"""Prometheus metrics of the agent, in one registry (no global default registry, so tests
and several agents in one process do not collide).

Conventions (docs/facts.md): prefix `baygate_`, base units, `_total` counters, `_seconds`
durations, no unbounded labels (no MAC addresses, VINs or serials).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Info, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sync.outbox_schema import read_stats

__all__ = [
    "AgentMetrics",
    "DiskCollector",
    "LinkCollector",
    "OutboxCollector",
    "PipelineCollector",
    "PipelineParts",
]

BREAKER_STATES = ("CLOSED", "HALF_OPEN", "OPEN")


@dataclass
class AgentMetrics:
    version: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        # Info renders as baygate_build_info{version="..."} 1.0
        self.build_info = Info("baygate_build", "Build of the running agent", registry=self.registry)
        self.build_info.info({"version": self.version})
        self.up = Gauge("baygate_up", "1 while the agent's event loop is running", registry=self.registry)
        # RSS, CPU seconds, open fds, start time from /proc/self (what a Pi's memory and
        # CPU alerts need); the unit leaves out ProcSubset=pid, which would hide them.
        ProcessCollector(namespace="baygate", registry=self.registry)
        # The pipelines put their parts here as they start (agent.pipelines.wiring).
        self.parts = PipelineParts()
        self.registry.register(PipelineCollector(self.parts))


@dataclass
class PipelineParts:
    """What the pipeline collector reads at scrape time. Labels are bounded by the
    config: dongle and camera names, breaker hosts (NHTSA and the connectors' hosts)."""

    vehicles: dict[str, Any] = field(default_factory=dict)  # dongle name -> VehicleSession
    stations: dict[str, Any] = field(default_factory=dict)  # camera name -> ScanStation
    feed: Any = None  # EnrichmentFeed: its bounded intake queue
    enrichment: Any = None  # EnrichmentService: breakers (.resilience.states())
    pressure: Any = None  # OutboxPressure
    probes: Any = None  # agent.enrich.probes.Probes: scheduled health checks of remote services

    def reset(self) -> None:
        self.vehicles.clear()
        self.stations.clear()
        self.feed = self.enrichment = self.pressure = self.probes = None


def _counter(name: str, doc: str, label: str, values: dict[str, float]) -> Metric:
    fam = CounterMetricFamily(name.removesuffix("_total"), doc, labels=[label])
    for key, value in sorted(values.items()):
        fam.add_metric([key], value)
    return fam


def _gauge(name: str, doc: str, label: str, values: dict[str, float]) -> Metric:
    fam = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        fam.add_metric([key], value)
    return fam


class PipelineCollector:
    """Dongles, cameras, enrichment and telemetry sampling, from the pipelines' own
    counters at scrape time (nothing added to the hot path). Every family is always
    present, empty when its part is not configured, so dashboards and alert rules
    find their names in any agent's scrape."""

    def __init__(self, parts: PipelineParts) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        p = self.parts
        v = {n: s.stats for n, s in list(p.vehicles.items())}
        yield _counter("baygate_obd_values_total", "PID values read from the vehicle", "dongle",
                       {n: st.samples for n, st in v.items()})  # fmt: skip
        yield _counter("baygate_obd_telemetry_records_total", "Telemetry records committed", "dongle",
                       {n: st.telemetry_records for n, st in v.items()})  # fmt: skip
        yield _counter("baygate_obd_link_losses_total", "Dongle links lost after connecting", "dongle",
                       {n: st.link_losses for n, st in v.items()})  # fmt: skip
        ready = {n: float(s.session.state.value == "ready") for n, s in list(p.vehicles.items())}
        yield _gauge("baygate_obd_connected", "1 while the dongle's link is ready", "dongle", ready)
        yield _counter(
            "baygate_telemetry_downsampled_total",
            "Telemetry samples left out because the outbox was under pressure",
            "dongle",
            {n: st.downsampled for n, st in v.items()},
        )
        pressure = GaugeMetricFamily(
            "baygate_telemetry_pressure", "1 while the outbox is under pressure and telemetry is sampled down"
        )
        pressure.add_metric([], 1.0 if p.pressure is not None and p.pressure.active else 0.0)
        yield pressure
        c = {n: s.stats for n, s in list(p.stations.items())}
        yield _counter("baygate_camera_frames_total", "Camera frames processed", "camera",
                       {n: st.frames for n, st in c.items()})  # fmt: skip
        yield _counter("baygate_camera_decodes_total", "Codes decoded in frames (before dedupe)", "camera",
                       {n: st.decodes for n, st in c.items()})  # fmt: skip
        yield _counter("baygate_camera_scans_total", "Scan records committed", "camera",
                       {n: st.records for n, st in c.items()})  # fmt: skip
        up: dict[str, float] = {}
        for name, station in list(p.stations.items()):
            h = station.health()
            up[name] = 1.0 if h is not None and h.state in ("ok", "ended") else 0.0
        yield _gauge("baygate_camera_up", "1 while the camera delivers frames", "camera", up)
        depth = GaugeMetricFamily(
            "baygate_enrichment_queue_depth", "Records waiting for enrichment intake (bounded at 1,000)"
        )
        depth.add_metric([], p.feed.queue.qsize() if p.feed is not None else 0)
        yield depth
        try:
            states = p.enrichment.resilience.states() if p.enrichment is not None else {}
        except RuntimeError:  # a breaker created on the loop while this thread iterated
            states = {}
        br = GaugeMetricFamily(
            "baygate_breaker_state", "1 for the breaker's current state, per host", labels=["host", "state"]
        )
        for host, state in sorted(states.items()):
            for name in BREAKER_STATES:
                br.add_metric([host, name], 1.0 if str(state) == name else 0.0)
        yield br
        results = dict(p.probes.results) if p.probes is not None else {}
        yield _gauge("baygate_service_up", "1 while the remote service answered its last health check",
                     "service", {n: float(r.up) for n, r in results.items()})  # fmt: skip
        yield _gauge("baygate_service_probe_duration_seconds", "Duration of the last health check",
                     "service", {n: r.duration_s for n, r in results.items()})  # fmt: skip


class LinkCollector:
    """Exports the MQTT link's counters at scrape time (no bookkeeping on the hot path)."""

    def __init__(self, link: Any) -> None:
        self.link = link

    def collect(self) -> Iterator[Metric]:
        c = self.link.counters
        for name, value, doc in (
            ("baygate_mqtt_connects_total", c.connects, "MQTT connections established"),
            ("baygate_mqtt_published_total", c.published, "Records handed to the broker"),
            ("baygate_mqtt_historical_total", c.historical, "Records resent after an outage"),
            ("baygate_mqtt_broker_acks_total", c.broker_acks, "QoS 1 PUBACKs received"),
            ("baygate_mqtt_backend_acks_total", c.backend_acks, "Backend high-water acks received"),
            ("baygate_mqtt_bad_acks_total", c.bad_acks, "Backend acks refused as malformed"),
            ("baygate_mqtt_unauthenticated_total", c.unauthenticated, "Acks/commands, MAC not verified"),
            ("baygate_commands_refused_total", self.link.commands.refused, "Commands refused (name, args)"),
            ("baygate_mqtt_oversize_total", c.oversize, "Records over the broker's maximum packet size"),
        ):
            fam = CounterMetricFamily(name.removesuffix("_total"), doc)
            fam.add_metric([], value)
            yield fam
        up = GaugeMetricFamily("baygate_mqtt_connected", "1 while the MQTT link is connected")
        up.add_metric([], 1.0 if self.link.connected else 0.0)
        yield up


class OutboxCollector:
    """The outbox's depth, age and losses at scrape time, read through a read-only
    SQLite connection of its own (WAL: never waits behind the writer's commits; the
    scrape runs in a worker thread, not on the event loop). A few ms per scrape."""

    def __init__(self, outbox: Any) -> None:
        self.outbox = outbox

    def collect(self) -> Iterator[Metric]:
        ob = self.outbox
        uri = f"file:{ob.path}?mode=ro"
        try:
            con = sqlite3.connect(uri, uri=True)
            try:
                st = read_stats(con, epoch=ob.epoch, last_seq=ob.last_seq, now=ob.clock(), full=ob.full)
            finally:
                con.close()
        except sqlite3.Error:
            return  # a scrape never fails the agent; the series are simply absent
        rows = GaugeMetricFamily("baygate_outbox_rows", "Outbox rows by state", labels=["state"])
        for state, n in (("pending", st.pending), ("sent", st.sent), ("held", st.held)):
            rows.add_metric([state], n)
        yield rows
        age = GaugeMetricFamily(
            "baygate_outbox_oldest_pending_age_seconds", "Age of the oldest record not yet sent (0 if none)"
        )
        age.add_metric([], st.oldest_pending_age_s or 0.0)
        yield age
        last = GaugeMetricFamily("baygate_outbox_last_seq", "Highest record seq committed")
        last.add_metric([], st.last_seq)
        yield last
        dropped = CounterMetricFamily(
            "baygate_outbox_dropped", "Records turned into tombstones by a stream cap", labels=["stream"]
        )
        for stream, n in sorted(st.dropped.items()):
            dropped.add_metric([stream], n)
        yield dropped
        full = GaugeMetricFamily("baygate_outbox_full", "1 while new records are refused (disk full)")
        full.add_metric([], 1.0 if st.full else 0.0)
        yield full
        rejected = CounterMetricFamily(
            "baygate_outbox_rejected", "Records the broker would not take, sent as tombstones"
        )
        rejected.add_metric([], st.rejected)
        yield rejected


class DiskCollector:
    """Disk pressure at scrape time: the level the monitor last saw, free space, and
    what the sink shed or refused because of it (agent.service.disk)."""

    def __init__(self, guard: Any, sink: Any) -> None:
        self.guard, self.sink = guard, sink

    def collect(self) -> Iterator[Metric]:
        state = self.guard.state
        level = GaugeMetricFamily(
            "baygate_disk_level", "0 ok, 1 low (telemetry shed), 2 critical (scans refused)"
        )
        level.add_metric([], int(state.level))
        yield level
        free = GaugeMetricFamily(
            "baygate_disk_free_bytes", "Free space for the outbox (filesystem + its free pages)"
        )
        if self.guard.measured:  # before the first look, 0 would read as a full disk
            free.add_metric([], state.free_bytes)
        yield free
        for name, counts, doc in (
            ("baygate_records_shed", self.sink.shed, "Records shed under disk pressure"),
            ("baygate_records_refused", self.sink.refused, "Records refused on a full disk"),
        ):
            fam = CounterMetricFamily(name, doc, labels=["kind"])
            for kind, n in sorted(counts.items()):
                fam.add_metric([kind], n)
            yield fam
