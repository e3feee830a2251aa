"""The backend ingest over a real Mosquitto: PostgreSQL, gap repair by replay, bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from sync.envelope import MAX_RECORD_BYTES
from sync.link import Link
from sync.outbox import Outbox
from sync.store import open_store
from tests.support.broker import Broker
from tests.support.sync import (
    BASE,
    add_replay,
    agent_side,
    ingest,
    link_settings,
    render,
    running,
    status_render,
    store_records,
    until,
)

SCAN = BASE + "/scan"


def publish_raw(url: str, items: list[tuple[str, bytes]]) -> None:
    port = int(url.rsplit(":", 1)[1])
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for topic, payload in items:
        c.publish(topic, payload, qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


@pytest.mark.anyio
async def test_ingest_into_postgresql_exactly_once(broker: Broker, tmp_path: Path, pg_db: str) -> None:
    async with (
        ingest(broker.url, pg_db, client_id="pg-ingest") as ing,
        agent_side(tmp_path, broker.url) as (
            ob,
            link,
        ),
    ):
        await link.wait_connected()
        for _ in range(30):
            await ob.put("scan", SCAN, render("scan"))
        await until(lambda: link.backend_hw >= ob.last_seq, what="acks from the PostgreSQL backend")
        again = [(SCAN, p) for _a, _e, _s, k, p in store_records(pg_db) if k == "scan" and p]
        await asyncio.to_thread(publish_raw, broker.url, again)  # resent: must dedupe
        await until(lambda: ing.counters.duplicates >= len(again), what="duplicates seen")
        epoch, last = ob.epoch, ob.last_seq
    rows = [r for r in store_records(pg_db) if r[1] == epoch]
    assert [s for _a, _e, s, _k, _p in rows] == list(range(1, last + 1))


@pytest.mark.anyio
async def test_a_gap_is_repaired_by_a_replay_request(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite3"
    async with ingest(broker.url, db) as ing, Outbox(tmp_path / "o.sqlite3") as ob:
        seqs = [await ob.put("scan", SCAN, render("scan")) for _ in range(10)]
        # seq 4 was broker-acked, then the broker crashed before delivering it; in
        # retention mode the agent would not resend it by itself
        await ob.mark_sent([seqs[3]])
        link = Link(ob, link_settings(broker.url, ack_retention_s=3600.0), status=status_render)
        add_replay(link)
        async with running(link.run):
            await until(lambda: ing.counters.replays_requested >= 1, what="replay request")
            await until(
                lambda: link.backend_hw >= ob.last_seq,
                what=f"gap repaired: {ing.counters} {link.counters} hw={link.backend_hw} {ing.streams}",
            )
        assert ing.counters.replay_replies.get("ok", 0) >= 1
    got = {s for _a, _e, s, _k, _p in store_records(db)}
    assert set(seqs) <= got


@pytest.mark.anyio
async def test_malformed_records_are_rejected_kept_and_ingest_goes_on(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite3"
    good = render("scan")(1, "ep-1")
    bad = [
        (SCAN, b"\xff\xfe not json"),
        (SCAN, b"[1, 2]"),
        (SCAN, json.dumps({**json.loads(good), "agent": "someone-else"}).encode()),
        (SCAN, json.dumps({**json.loads(good), "seq": "x"}).encode()),
        (SCAN, json.dumps({**json.loads(good), "epoch": None}).encode()),
        (BASE + "/alert", good),  # kind does not match its topic
        (SCAN, b'{"pad": "' + b"x" * MAX_RECORD_BYTES + b'"}'),  # oversize
    ]
    async with ingest(broker.url, db) as ing:
        await until(lambda: ing.connected, what="ingest up")
        await asyncio.to_thread(publish_raw, broker.url, [*bad, (SCAN, good)])
        await until(
            lambda: ("agent-t", "ep-1") in ing.streams and ing.counters.rejected >= len(bad), what="ingest"
        )
        assert ing.connected
    store = open_store(str(db))
    try:
        reasons = [r.reason for r in store.rejects()]
        assert len(reasons) == len(bad)
        assert any("not JSON" in r for r in reasons) and any("does not match its topic" in r for r in reasons)
        assert any("exceeds" in r for r in reasons)
        # (the session broker may also hand us other tests' retained status records)
        assert [s for _a, e, s, _k, _p in store.records() if e == "ep-1"] == [1]
    finally:
        store.close()
