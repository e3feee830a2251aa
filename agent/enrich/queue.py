"""The durable enrichment queue: lookups that cannot run now wait in SQLite.

A job is committed before the caller returns, so a crash or power cut never loses a
pending enrichment; a job leaves the queue only after its result record was emitted
(at-least-once, like the outbox). Failed jobs come back after an exponential backoff.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.enrich.db import StateDB

__all__ = ["Job", "QueueSink", "WorkQueue"]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    subject: str | None
    payload: dict[str, Any]
    attempts: int


class WorkQueue:
    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def put(self, kind: str, payload: dict[str, Any], subject: str | None, priority: int = 1) -> int:
        now = self.clock()

        def q(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO queue (kind, subject, payload, priority, next_at, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (kind, subject, json.dumps(payload), priority, now, now),
            )
            return int(cur.lastrowid or 0)

        return await self.db.run(q)

    async def due(self, limit: int = 100) -> list[Job]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT id, kind, subject, payload, attempts FROM queue WHERE next_at<=? "
                "ORDER BY priority, id LIMIT ?",
                (self.clock(), limit),
            ).fetchall()
        )
        return [Job(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    async def done(self, job_id: int) -> None:
        await self.db.run(lambda c: c.execute("DELETE FROM queue WHERE id=?", (job_id,)))

    async def retry(self, job_id: int, error: str, delay_s: float) -> None:
        await self.db.run(
            lambda c: c.execute(
                "UPDATE queue SET attempts=attempts+1, next_at=?, last_error=? WHERE id=?",
                (self.clock() + delay_s, error, job_id),
            )
        )

    async def depth(self) -> int:
        n: int = await self.db.run(lambda c: c.execute("SELECT COUNT(*) FROM queue").fetchone()[0])
        return n

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest job is due (0 if one is due now); None when empty."""
        at = await self.db.run(lambda c: c.execute("SELECT MIN(next_at) FROM queue").fetchone()[0])
        return None if at is None else max(0.0, float(at) - self.clock())


class QueueSink:
    """A RecordSink for short-lived commands (`baygate registration complete`): the record
    is queued durably and the running agent's enrichment service emits it to the outbox."""

    def __init__(self, queue: WorkQueue) -> None:
        self.queue = queue

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> str:
        body = {k: v for k, v in body.items()}
        job = await self.queue.put("emit", {"kind": kind, "body": body}, body.get("subject"), priority=0)
        return f"queued:{job}"
