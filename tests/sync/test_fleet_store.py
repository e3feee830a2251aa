"""The fleet view's rows from the store, on SQLite and on a real PostgreSQL, fed with what
the agent's real producers render (status births and Last Wills, alert records)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.pipelines.sink import build_record
from agent.records import utcnow
from agent.service.health import HealthRegistry
from agent.service.runtime import status_renderer
from sync.envelope import Incoming, parse_incoming, record_topic
from sync.fleet import fleet_view, store_view
from sync.link_settings import StatusInfo
from sync.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    db = str(tmp_path / "b.sqlite3") if request.param == "sqlite" else request.getfixturevalue("pg_db")
    s = open_store(db)
    request.addfinalizer(s.close)
    return s


def status(agent: str, seq: int, state: str, session: int) -> bytes:
    cfg = parse_config({"agent": {"shop_id": "s1", "agent_id": agent}}, environ={})
    health = HealthRegistry(version="t")
    health.register("dongle:bay1", lambda: ("pass", "ready"))
    return status_renderer(cfg, health=health)(seq, "e1", StatusInfo(state, session, 3, 1.5))


def alert(agent: str, seq: int, code: str, severity: str) -> bytes:
    body = {"severity": severity, "code": code, "message": code}
    rec = build_record("alert", body, shop="s1", agent=agent, epoch="e1", seq=seq, ts=utcnow())
    return rec.model_dump_json().encode()


def incoming(agent: str, kind: str, payload: bytes) -> Incoming:
    return parse_incoming(record_topic("s1", agent, kind), payload, {})


def test_presence_streams_and_alerts_per_agent(store: Store) -> None:
    store.commit([
        incoming("a1", "status", status("a1", 1, "online", 2)),
        incoming("a1", "alert", alert("a1", 2, "breaker_open", "warning")),
        incoming("a1", "alert", alert("a1", 3, "service_down", "warning")),
        incoming("a1", "alert", alert("a1", 4, "breaker_closed", "info")),
        incoming("a2", "status", status("a2", 1, "online", 1)),
    ])  # fmt: skip
    t_will = time.time()
    store.commit([incoming("a2", "status", status("a2", 1, "offline", 1))])  # a2's Last Will
    view = store_view(store.fleet_rows(alerts_since=0.0))
    rows = {r.agent: r for r in fleet_view([], view)}
    assert rows["a1"].online is True and rows["a2"].online is False
    since = rows["a2"].since
    assert since is not None and since >= t_will - 1  # when the will arrived
    assert rows["a1"].active_alerts == ["service_down"]
    assert (rows["a1"].records, rows["a1"].gaps, rows["a2"].records) == (4, 0, 1)
    assert rows["a1"].last_record is not None
    # alerts older than the window are history
    assert store_view(store.fleet_rows(alerts_since=time.time() + 60)).alerts == {}
