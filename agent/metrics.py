"""Prometheus metrics of the agent, in one registry (no global default registry, so tests
and several agents in one process do not collide).

Conventions (FACTS.md): prefix `baygate_`, base units, `_total` counters, `_seconds`
durations, no unbounded labels (no MAC addresses, VINs or serials).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["AgentMetrics", "LinkCollector"]


@dataclass
class AgentMetrics:
    version: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        # Info renders as baygate_build_info{version="..."} 1.0
        self.build_info = Info("baygate_build", "Build of the running agent", registry=self.registry)
        self.build_info.info({"version": self.version})
        self.up = Gauge("baygate_up", "1 while the agent's event loop is running", registry=self.registry)


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
        ):
            fam = CounterMetricFamily(name.removesuffix("_total"), doc)
            fam.add_metric([], value)
            yield fam
        up = GaugeMetricFamily("baygate_mqtt_connected", "1 while the MQTT link is connected")
        up.add_metric([], 1.0 if self.link.connected else 0.0)
        yield up
