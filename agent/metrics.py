"""Prometheus metrics of the agent, in one registry (no global default registry, so tests
and several agents in one process do not collide).

Conventions (FACTS.md): prefix `baygate_`, base units, `_total` counters, `_seconds`
durations, no unbounded labels (no MAC addresses, VINs or serials).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, Info

__all__ = ["AgentMetrics"]


@dataclass
class AgentMetrics:
    version: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        # Info renders as baygate_build_info{version="..."} 1.0
        self.build_info = Info("baygate_build", "Build of the running agent", registry=self.registry)
        self.build_info.info({"version": self.version})
        self.up = Gauge("baygate_up", "1 while the agent's event loop is running", registry=self.registry)
