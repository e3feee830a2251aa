"""A backend that lost records the agents already deleted (its database restored from an
older backup, or a new one) must not wait for them for ever.

Before: the fresh store saw seqs from N+1 on, kept its high-water mark at 0, asked the
agent to replay rows the agent had deleted on an earlier ack, and acked nothing: the
agent's outbox grew until its disk was full. Now the agent's replay answer includes a
status record with `acked_through` (and every birth carries it), and the store moves
its high-water mark past the rows nobody holds any more, counting them as skipped.

The agent side is the real Link with the agent's real status renderer; a real Mosquitto,
the real ingest, SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.service.runtime import status_renderer
from sync.link import Link
from sync.outbox import Outbox
from sync.store import open_store
from tests.support.broker import Broker
from tests.support.sync import AGENT, BASE, SHOP, add_replay, ingest, link_settings, render, running, until

SCAN = BASE + "/scan"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The second database, the one that lost everything."""
    if request.param == "sqlite":
        return str(tmp_path / f"fresh-{uuid.uuid4().hex[:6]}.sqlite3")
    return str(request.getfixturevalue("pg_db"))


@pytest.mark.anyio
async def test_a_backend_on_a_fresh_database_moves_past_rows_the_agent_deleted(
    own_broker: Broker, tmp_path: Path, fresh_db: str
) -> None:
    # A broker of its own: the session's broker retains other tests' status records,
    # which a fresh ingest receives and may skip for too.
    broker = own_broker
    cfg = parse_config({"agent": {"shop_id": SHOP, "agent_id": AGENT}}, environ={})
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        link = Link(ob, link_settings(broker.url, replay_window_s=0.5), status=status_renderer(cfg))
        add_replay(link)
        async with running(link.run):
            await link.wait_connected()
            async with ingest(broker.url, tmp_path / "old.sqlite3"):
                for _ in range(20):
                    await ob.put("scan", SCAN, render("scan"))
                await until(lambda: link.backend_hw >= ob.last_seq, what="acks from the first backend")
                for _ in range(100):  # a row is deleted once both its PUBACK and the ack came
                    if (await ob.stats()).depth == 0:
                        break
                    await asyncio.sleep(0.05)
                assert (await ob.stats()).lowest_held is None

            async with ingest(broker.url, fresh_db) as fresh:
                for _ in range(10):
                    await ob.put("scan", SCAN, render("scan"))
                await until(
                    lambda: link.backend_hw >= ob.last_seq,
                    what=f"acks from the fresh backend: {fresh.counters} {fresh.streams}",
                )
                for _ in range(100):
                    if (await ob.stats()).depth == 0:
                        break
                    await asyncio.sleep(0.05)
                assert (await ob.stats()).depth == 0  # the agent's outbox drained
                skipped = fresh.counters.skipped

    store = open_store(fresh_db)
    try:
        [row] = [s for s in store.stats() if s.epoch == ob.epoch]
    finally:
        store.close()
    assert row.hw == ob.last_seq and row.missing == 0
    # Each seq was received by the fresh database or skipped, never both; only the
    # retained birth of the first 21 reached it (the broker keeps it for new subscribers).
    assert row.count + skipped == ob.last_seq
    assert skipped >= 20


def test_acked_through_is_bounded_by_the_status_records_own_seq() -> None:
    """Only rows committed before the status can be gone: a status claiming more (a
    forged or corrupt one) is refused, so it cannot move a backend past live rows."""
    from sync.envelope import parse_incoming, record_topic
    from sync.errors import BadMessageError
    from sync.link_settings import StatusInfo

    cfg = parse_config({"agent": {"shop_id": SHOP, "agent_id": AGENT}}, environ={})
    topic = record_topic(SHOP, AGENT, "status")

    def status(seq: int, acked: int | None) -> bytes:
        return status_renderer(cfg)(seq, "e1", StatusInfo("online", 3, 0, None, acked))

    assert parse_incoming(topic, status(22, 21), {}).acked_through == 21
    assert parse_incoming(topic, status(22, None), {}).acked_through is None
    with pytest.raises(BadMessageError, match="acked_through 22 out of range"):
        parse_incoming(topic, status(22, 22), {})
