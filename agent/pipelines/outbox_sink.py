"""The production RecordSink: records go into the durable outbox, then over MQTT.

`emit` builds and validates the record inside the outbox's group commit (the id holds
the epoch and seq the outbox assigns), so it returns only once the record is
committed to SQLite. Topic: `sync.envelope.record_topic` (one place); status records are
retained. When the outbox is full, the sink commits a `disk_full` alert from the
outbox's small reserve (once per episode) and raises OutboxFullAgentError: new work is
refused, nothing already taken is dropped. `on_commit`, when set (the bay screen), is
awaited with each record once it is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from agent.errors import AgentError
from agent.pipelines.sink import build_record
from agent.records import Envelope, utcnow
from sync.envelope import record_topic
from sync.errors import OutboxFullError, SyncError
from sync.outbox import Outbox

__all__ = ["OutboxFullAgentError", "OutboxSink"]

log = logging.getLogger("baygate.sink")


class OutboxFullAgentError(AgentError):
    """The outbox refused a record because the disk is full."""


class OutboxSink:
    def __init__(self, outbox: Outbox, *, shop: str, agent: str) -> None:
        self.outbox = outbox
        self.shop = shop
        self.agent = agent
        self.emitted: dict[str, int] = {}  # per kind, since start
        self._alerted = False
        self.on_commit: Callable[[Envelope], Awaitable[None]] | None = None

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        when = ts or utcnow()
        built: list[Envelope] = []  # the record as rendered inside the commit

        def render(seq: int, epoch: str) -> bytes:
            rec = build_record(kind, body, shop=self.shop, agent=self.agent, epoch=epoch, seq=seq, ts=when)
            built[:] = [rec]
            return rec.model_dump_json().encode()

        try:
            seq = await self.outbox.put(
                kind, record_topic(self.shop, self.agent, kind), render, retain=kind == "status"
            )
        except OutboxFullError as exc:
            await self._alert_full()
            raise OutboxFullAgentError(f"{kind} record refused: {exc}") from None
        except SyncError as exc:
            raise AgentError(f"{kind} record could not be committed: {exc}") from None
        self._alerted = False
        self.emitted[kind] = self.emitted.get(kind, 0) + 1
        rec = built[-1]
        assert rec.seq == seq, "the outbox committed what render built"
        if self.on_commit is not None:
            await self.on_commit(rec)
        return rec

    async def _alert_full(self) -> None:
        if self._alerted:
            return
        self._alerted = True
        body = {
            "severity": "critical",
            "code": "disk_full",
            "message": "outbox is full: new records are refused until the backend acks older ones",
        }
        when = utcnow()

        def render(seq: int, epoch: str) -> bytes:
            rec = build_record("alert", body, shop=self.shop, agent=self.agent, epoch=epoch, seq=seq, ts=when)
            return rec.model_dump_json().encode()

        try:
            await self.outbox.put("alert", record_topic(self.shop, self.agent, "alert"), render, reserve=True)
        except SyncError as exc:
            log.error("disk_full alert could not be committed either: %s", exc)
