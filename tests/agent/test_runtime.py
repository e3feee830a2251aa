"""The agent runtime end to end: pipelines -> outbox -> Mosquitto -> backend, and the
remote command channel with the agent's handlers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.config import Config, parse_config
from agent.pipelines.outbox_sink import OutboxFullAgentError, OutboxSink
from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import RecordSink
from agent.records import parse_record
from agent.service.runtime import Runtime
from drivers.camera import Code
from sync.outbox import Outbox
from tests.support.broker import Broker
from tests.support.sync import ingest, running, send_command, store_records, until


def job_scan(n: int) -> dict[str, object]:
    """A job-ticket scan as the camera path produces it (classify + scan_body)."""
    payload = f"BAYGATE:JOB:v1;id=J{n:06d};bay=1"
    return scan_body("cam1", Code("QRCODE", payload, ((0, 0),) * 4, 0.9, "zxing"), ())


SCAN = job_scan(1)
BASE = "baygate/v1/shop-r/bay-r"


def config(state: Path, url: str) -> Config:
    return parse_config(
        {"agent": {"shop_id": "shop-r", "agent_id": "bay-r", "state_dir": str(state)}, "mqtt": {"url": url}},
        environ={},
    )


@pytest.mark.anyio
async def test_pipeline_records_reach_the_backend_valid_and_commands_answer(
    broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "b.sqlite3"

    async def scans(sink: RecordSink) -> None:
        for i in range(3):
            await sink.emit("scan", job_scan(i))
        await asyncio.Event().wait()

    rt = Runtime(config(tmp_path / "state", broker.url), [scans], backoff_min_s=0.05, backoff_max_s=0.5)
    async with ingest(broker.url, db), running(rt.run):
        await until(lambda: rt.link is not None and rt.outbox is not None and rt.link.connected, what="up")
        assert rt.link is not None and rt.outbox is not None
        link, ob = rt.link, rt.outbox
        await until(lambda: ob.last_seq >= 4 and link.backend_hw >= ob.last_seq, what="delivered")

        def cmd(name: str, payload: bytes, respond: bool = True) -> object:
            return asyncio.to_thread(send_command, broker.url, BASE, name, payload, respond=respond)

        reply, _ = await cmd("ping", b"{}")  # type: ignore[misc]
        assert reply == {"ok": True, "result": {"pong": True, "version": reply["result"]["version"]}}
        reply, _ = await cmd("status", b"")  # type: ignore[misc]
        assert reply["ok"] and reply["result"]["epoch"] == ob.epoch and reply["result"]["outbox_depth"] == 0
        reply, _ = await cmd("reboot", b"{}")  # type: ignore[misc]
        assert not reply["ok"] and "unknown command 'reboot'" in reply["error"]
        reply, _ = await cmd("replay", json.dumps({"epoch": ob.epoch, "from_seq": 0}).encode())  # type: ignore[misc]
        assert not reply["ok"] and "from_seq" in reply["error"]
        reply, _ = await cmd("replay", b'{"epoch": "x", "from_seq": 1, "rm": "-rf"}')  # type: ignore[misc]
        assert not reply["ok"] and "rm" in reply["error"]
        reply, _ = await cmd("replay", b"\x00garbage")  # type: ignore[misc]
        assert not reply["ok"] and "not JSON" in reply["error"]
        reply, _ = await cmd("replay", json.dumps({"epoch": "other", "from_seq": 1}).encode())  # type: ignore[misc]
        assert not reply["ok"] and "epoch" in reply["error"]
        refused = link.commands.refused
        reply, _ = await cmd("ping", b"{}", respond=False)  # type: ignore[misc]
        assert reply is None
        await until(lambda: link.commands.refused == refused + 1, what="no-response-topic refusal")
        reply, _ = await cmd("replay", json.dumps({"epoch": ob.epoch, "from_seq": 1}).encode())  # type: ignore[misc]
        assert reply == {"ok": True, "result": {"requeued": 0, "from_seq": 1}}  # all acked and deleted
        assert link.connected
        # ... so the agent says what is gone (docs/records.md, Replay): a status record
        # with acked_through, which the backend stores and acks like any record.
        await until(lambda: ob.last_seq == 5 and link.backend_hw == 5, what="the acked_through status")
    recs = [parse_record(p) for a, _e, _s, _k, p in store_records(db) if p and a == "bay-r"]
    kinds = sorted(r.kind for r in recs)  # type: ignore[attr-defined]
    assert kinds == ["scan", "scan", "scan", "status", "status"]
    said = [r for r in recs if r.kind == "status" and r.seq == 5]  # type: ignore[attr-defined]
    assert [(r.state, r.acked_through) for r in said] == [("online", 4)]  # type: ignore[attr-defined]
    assert [r.fields["id"] for r in recs if r.kind == "scan"] == ["J000000", "J000001", "J000002"]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_sink_validates_before_committing_and_consumes_no_seq(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        sink = OutboxSink(ob, shop="s", agent="a")
        with pytest.raises(ValidationError):
            await sink.emit("scan", {**SCAN, "confidence": 7})
        rec = await sink.emit("scan", SCAN)
        assert rec.id == f"a:{ob.epoch}:1"
        (row,) = await ob.pending()
        assert row.topic == "baygate/v1/s/a/scan"
        assert parse_record(row.payload) == rec  # emit returns exactly what was committed


@pytest.mark.anyio
async def test_disk_full_raises_an_alert_and_refuses_new_work(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3", max_bytes=128 * 1024) as ob:
        sink = OutboxSink(ob, shop="s", agent="a")
        taken = 0
        with pytest.raises(OutboxFullAgentError, match="refused"):
            for _ in range(500):
                await sink.emit("scan", {**SCAN, "payload": "x" * 4000})
                taken += 1
        assert taken > 3
        with pytest.raises(OutboxFullAgentError):
            await sink.emit("scan", SCAN)
        rows = await ob.pending(limit=1000)
        alerts = [parse_record(r.payload) for r in rows if r.stream == "alert"]
        assert len(alerts) == 1 and alerts[0].code == "disk_full"  # type: ignore[attr-defined]
        assert len([r for r in rows if r.stream == "scan"]) == taken  # nothing old lost
