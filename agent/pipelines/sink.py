"""Where the agent's pipelines hand records: the one seam between readings and sync.

A pipeline (vehicle session, scan station, enrichment) calls `sink.emit(kind, body)`
with the kind-specific fields. The sink fills the envelope (id, shop, agent, epoch,
seq, ts), validates the whole record against its model, and returns the committed
record only when it is committed (for the outbox sink: in SQLite, durable). Its `id` is
what later records (enrichments) name as their `subject`; nothing downstream rebuilds a
record or parses an id.

A sink may refuse a record when the disk is (nearly) full: `RecordRefusedError`
(scans, vehicle reports), or `RecordShedError` for telemetry. Pipelines count it, log
it and go on: a refused reading was never taken, nothing older is lost.

`MemorySink` is the in-process implementation used by unit tests of pipelines and by
CLI commands that print instead of publishing; it validates exactly like the real one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, Protocol

from agent.errors import AgentError
from agent.records import KINDS, Envelope, record_id, utcnow

__all__ = [
    "Emitter",
    "MemorySink",
    "Pipeline",
    "RecordRefusedError",
    "RecordShedError",
    "RecordSink",
    "TeeSink",
    "build_record",
]


class RecordRefusedError(AgentError):
    """The record was not taken: the disk is (nearly) full. Nothing older is lost."""


class RecordShedError(RecordRefusedError):
    """Telemetry not taken under disk pressure (the one stream that may be shed)."""


class RecordSink(Protocol):
    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        """Validate and durably commit one record; return it as committed."""
        ...


# A pipeline runs until cancelled, emitting into the sink it is given.
Pipeline = Callable[[RecordSink], Coroutine[Any, Any, None]]


class Emitter(Protocol):
    """What a producer that ignores the committed record needs: a RecordSink, or a
    deferred sink (the durable work queue of a short-lived command)."""

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> object: ...


def build_record(
    kind: str, body: Mapping[str, Any], *, shop: str, agent: str, epoch: str, seq: int, ts: datetime
) -> Envelope:
    """The validated record for `kind` (raises KeyError for an unknown kind,
    pydantic.ValidationError for a body that does not fit the model)."""
    model = KINDS[kind]
    envelope = {
        "id": record_id(agent, epoch, seq),
        "shop": shop,
        "agent": agent,
        "epoch": epoch,
        "seq": seq,
        "ts": ts,
        "kind": kind,
    }
    return model.model_validate({**body, **envelope})


class MemorySink:
    """Keeps validated records in a list, in order. For tests and print-only commands."""

    def __init__(self, shop: str = "shop-test", agent: str = "agent-test") -> None:
        self.shop = shop
        self.agent = agent
        self.epoch = str(uuid.uuid4())
        self.records: list[Envelope] = []

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = build_record(
            kind,
            body,
            shop=self.shop,
            agent=self.agent,
            epoch=self.epoch,
            seq=len(self.records) + 1,
            ts=ts or utcnow(),
        )
        self.records.append(rec)
        return rec

    def of_kind(self, kind: str) -> list[Envelope]:
        return [r for r in self.records if getattr(r, "kind", None) == kind]


class TeeSink:
    """Forwards to another sink and keeps the validated record of everything that
    passed, so a caller can narrate or inspect whichever sink is underneath (the demo
    shows what the durable outbox carried)."""

    def __init__(self, inner: RecordSink) -> None:
        self.inner = inner
        self.records: list[Envelope] = []

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = await self.inner.emit(kind, body, ts)
        self.records.append(rec)
        return rec

    def of_kind(self, kind: str) -> list[Envelope]:
        return [r for r in self.records if getattr(r, "kind", None) == kind]
