"""sd_notify, health aggregation and the local /health + /metrics API, for real."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from agent.service.api import serve_api
from agent.service.health import HealthRegistry
from agent.service.metrics import AgentMetrics
from agent.service.sdnotify import notify, watchdog_interval_s


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_reaches_a_real_unix_datagram_socket(tmp_path: Path, abstract: bool) -> None:
    name = f"@baygate-test-{os.getpid()}" if abstract else str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name[1:] if abstract else name)
        srv.settimeout(5)
        assert notify("READY=1", environ={"NOTIFY_SOCKET": name}) is True
        assert srv.recv(64) == b"READY=1"


def test_notify_outside_systemd_is_a_noop() -> None:
    assert notify("READY=1", environ={}) is False


def test_watchdog_interval_is_half_the_deadline_and_only_for_us() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_health_is_the_worst_check_and_a_raising_check_fails() -> None:
    h = HealthRegistry(version="1.2.3")
    h.register("outbox", lambda: ("pass", "depth 0"))
    h.register("camera", lambda: ("warn", "bay1-cam absent"))
    doc = h.evaluate()
    assert doc["status"] == "warn" and h.http_status(doc) == 200

    def broken() -> tuple[str, str]:
        raise RuntimeError("db locked")

    h.register("broker", broken)  # type: ignore[arg-type]
    doc = h.evaluate()
    assert doc["status"] == "fail" and h.http_status(doc) == 503
    assert "db locked" in doc["checks"]["broker"][0]["output"]


@pytest.mark.anyio
async def test_api_serves_health_and_metrics_over_http() -> None:
    health = HealthRegistry(version="9.9.9")
    state = {"status": "pass"}
    health.register("link", lambda: (state["status"], "connected"))  # type: ignore[arg-type,return-value]
    metrics = AgentMetrics(version="9.9.9")
    async with serve_api(health, metrics.registry, port=0) as port, httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}"
        r = await client.get(f"{base}/health")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/health+json"
        assert r.json()["checks"]["link"][0]["status"] == "pass"
        state["status"] = "fail"
        assert (await client.get(f"{base}/health")).status_code == 503
        m = await client.get(f"{base}/metrics")
        assert 'baygate_build_info{version="9.9.9"} 1.0' in m.text
        assert (await client.get(f"{base}/nope")).status_code == 404
        assert (await client.post(f"{base}/health")).status_code == 405


@pytest.mark.anyio
async def test_metrics_show_the_outbox_depth_age_and_dropped_telemetry(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from agent.service.metrics import OutboxCollector
    from sync.outbox import Outbox

    def render(seq: int, epoch: str) -> bytes:
        return b'{"seq": %d}' % seq

    now = [1000.0]
    async with Outbox(tmp_path / "o.sqlite3", caps={"telemetry": 2}, clock=lambda: now[0]) as ob:
        for stream in ("scan", "scan", "telemetry", "telemetry", "telemetry"):
            await ob.put(stream, f"t/{stream}", render)
        await ob.mark_sent([1])
        metrics = AgentMetrics(version="t")
        metrics.registry.register(OutboxCollector(ob))
        now[0] += 42.0
        text = generate_latest(metrics.registry).decode()
    assert 'baygate_outbox_rows{state="pending"} 4.0' in text
    assert 'baygate_outbox_rows{state="sent"} 1.0' in text
    assert 'baygate_outbox_dropped_total{stream="telemetry"} 1.0' in text
    assert "baygate_outbox_last_seq 5.0" in text
    assert "baygate_outbox_full 0.0" in text
    assert "baygate_outbox_oldest_pending_age_seconds 42.0" in text
