"""The process series docs/deployment.md and the unit's ProcSubset note speak of exist."""

from __future__ import annotations

from prometheus_client import generate_latest

from agent.service.metrics import AgentMetrics


def test_process_metrics_are_exported_with_our_prefix() -> None:
    text = generate_latest(AgentMetrics(version="t").registry).decode()
    rss = next(ln for ln in text.splitlines() if ln.startswith("baygate_process_resident_memory_bytes "))
    assert float(rss.split()[1]) > 10 * 2**20  # a Python with pydantic loaded: well over 10 MiB
    assert "baygate_process_cpu_seconds_total " in text
    assert "baygate_process_open_fds " in text and "baygate_process_start_time_seconds " in text
