"""The production RecordSink: records go into the durable outbox, then over MQTT.

`emit` builds and validates the record inside the outbox's group commit (the id holds
the epoch and seq the outbox assigns), so it returns only once the record is
committed to SQLite. Topic: `sync.envelope.record_topic` (one place); status records are
retained.

Disk pressure (`set_level`, fed by `agent.service.disk`): what the agent gives up first.
- telemetry is shed from `low` on: not committed, counted in `shed`, RecordShedError;
- scans and vehicle reports are refused at `critical` (or when SQLite says the disk
  is full): RecordRefusedError, counted in `refused`, after a `disk_full` alert
  committed from the outbox's reserve (once per episode);
- everything else (enrichment, registration, alerts) waits for room: its input is
  already durable (the enrichment queue) and it is small.
Nothing already taken is dropped. `on_commit`, when set (the bay
screen), is awaited with each record once it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from agent.errors import AgentError
from agent.pipelines.sink import RecordRefusedError, RecordShedError, build_record
from agent.records import Envelope, utcnow
from sync.disk import DiskLevel
from sync.envelope import record_topic
from sync.errors import OutboxFullError, SyncError
from sync.outbox import Outbox

__all__ = ["OutboxFullAgentError", "OutboxSink", "RecordRefusedError", "RecordShedError"]

log = logging.getLogger("baygate.sink")

OutboxFullAgentError = RecordRefusedError  # the name callers knew

SHED_FIRST = frozenset({"telemetry"})  # from DiskLevel.LOW
REFUSED_WHEN_FULL = frozenset({"scan", "vehicle_report"})  # at DiskLevel.CRITICAL
_RETRY_S = 1.0


class OutboxSink:
    def __init__(self, outbox: Outbox, *, shop: str, agent: str) -> None:
        self.outbox = outbox
        self.shop = shop
        self.agent = agent
        self.emitted: dict[str, int] = {}  # per kind, since start
        self.shed: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.level = DiskLevel.OK
        self._room = asyncio.Event()
        self._room.set()
        self._alerted = False
        self.on_commit: Callable[[Envelope], Awaitable[None]] | None = None

    def set_level(self, level: DiskLevel) -> bool:
        """The disk monitor's verdict. True when it closes a `disk_full` episode: the
        level is OK and the outbox takes records again. The caller then says so with a
        `disk_ok` alert, which the fleet view needs to clear `disk_full` — also when the
        outbox refused a put while the monitor never saw a critical level (SQLite's
        SQLITE_FULL comes between two of the monitor's once-a-second looks)."""
        self.level = level
        if level < DiskLevel.CRITICAL and not self.outbox.full:
            self._room.set()
        else:
            self._room.clear()
        if level is DiskLevel.OK and self._alerted and not self.outbox.full:
            self._alerted = False
            return True
        return False

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        when = ts or utcnow()
        if kind in SHED_FIRST and self.level >= DiskLevel.LOW:
            self.shed[kind] = self.shed.get(kind, 0) + 1
            raise RecordShedError(f"{kind} record shed: disk space low")
        if kind in REFUSED_WHEN_FULL and self.level >= DiskLevel.CRITICAL:
            await self._refuse(kind)
        built: list[Envelope] = []  # the record as rendered inside the commit

        def render(seq: int, epoch: str) -> bytes:
            rec = build_record(kind, body, shop=self.shop, agent=self.agent, epoch=epoch, seq=seq, ts=when)
            built[:] = [rec]
            return rec.model_dump_json().encode()

        while True:
            try:
                seq = await self.outbox.put(
                    kind, record_topic(self.shop, self.agent, kind), render, retain=kind == "status"
                )
                break
            except OutboxFullError:
                self._room.clear()
                if kind in SHED_FIRST or kind in REFUSED_WHEN_FULL:
                    await self._refuse(kind)
                await self.alert_full()
                # Derived records wait (their input is durable); woken by the disk
                # monitor, and tried again every second without one.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_RETRY_S):
                        await self._room.wait()
            except SyncError as exc:
                raise AgentError(f"{kind} record could not be committed: {exc}") from None
        self.emitted[kind] = self.emitted.get(kind, 0) + 1
        rec = built[-1]
        assert rec.seq == seq, "the outbox committed what render built"
        if self.on_commit is not None:
            await self.on_commit(rec)
        return rec

    async def _refuse(self, kind: str) -> None:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        await self.alert_full()
        raise RecordRefusedError(f"{kind} record refused: disk full, waiting for the backend's acks")

    async def alert_full(self) -> None:
        """The `disk_full` alert, once per episode (until the level is back to ok)."""
        if self._alerted:
            return
        self._alerted = True
        await self.alert(
            "critical",
            "disk_full",
            "disk full: new scans are refused and telemetry is shed until the backend's acks "
            "or an operator free space; nothing already taken is lost",
        )

    async def alert(self, severity: str, code: str, message: str) -> int | None:
        """Commit an alert from the outbox's reserve (it must get through on a full
        disk); its seq, or None when even that failed (logged)."""
        body = {"severity": severity, "code": code, "message": message}
        when = utcnow()

        def render(seq: int, epoch: str) -> bytes:
            rec = build_record("alert", body, shop=self.shop, agent=self.agent, epoch=epoch, seq=seq, ts=when)
            return rec.model_dump_json().encode()

        try:
            topic = record_topic(self.shop, self.agent, "alert")
            seq = await self.outbox.put("alert", topic, render, reserve=True)
        except SyncError as exc:
            log.error("%s alert could not be committed either: %s", code, exc)
            return None
        self.emitted["alert"] = self.emitted.get("alert", 0) + 1
        return seq
