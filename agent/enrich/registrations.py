"""Registration lifecycle persisted in SQLite, with an audit trail of every attempt.

PENDING -> PROCESSING -> SUCCESS | PARTIAL_SUCCESS | MANUAL_REQUIRED | FAILED
MANUAL_REQUIRED (or FAILED) -> USER_COMPLETED when the technician confirms it.
A transient failure (network, breaker open) puts a registration back to PENDING with a
`next_at`; PROCESSING rows found at start-up (a crash mid-attempt) go back to PENDING.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.enrich.db import StateDB
from agent.enrich.errors import NotFoundError

__all__ = ["PRIORITIES", "TERMINAL", "Attempt", "Registration", "RegistrationStore"]

PRIORITIES = {"high": 0, "normal": 1, "low": 2}
TERMINAL = frozenset({"SUCCESS", "PARTIAL_SUCCESS", "MANUAL_REQUIRED", "FAILED", "USER_COMPLETED"})
_COLS = (
    "id, manufacturer, serial, subject, priority, status, method, attempts, product, result, manual, "
    "error, next_at, created_at, updated_at"
)


@dataclass(frozen=True)
class Attempt:
    n: int
    method: str
    started_at: float
    duration_s: float
    outcome: str
    error: str | None


@dataclass(frozen=True)
class Registration:
    id: str
    manufacturer: str
    serial: str
    subject: str | None
    priority: str
    status: str
    method: str | None
    attempts: int
    product: dict[str, Any]
    result: dict[str, Any] | None
    manual: dict[str, Any] | None
    error: str | None
    next_at: float
    created_at: float
    updated_at: float

    def record_body(self) -> dict[str, Any]:
        """The body of this registration's `registration` record."""
        return {
            "registration": self.id,
            "subject": self.subject,
            "manufacturer": self.manufacturer,
            "serial": self.serial,
            "status": self.status,
            "method": self.method,
            "priority": self.priority,
            "attempts": self.attempts,
            "manual": self.manual,
            "error": self.error,
        }


def _row(r: tuple[Any, ...]) -> Registration:
    return Registration(
        id=r[0],
        manufacturer=r[1],
        serial=r[2],
        subject=r[3],
        priority=r[4],
        status=r[5],
        method=r[6],
        attempts=r[7],
        product=json.loads(r[8]),
        result=json.loads(r[9]) if r[9] else None,
        manual=json.loads(r[10]) if r[10] else None,
        error=r[11],
        next_at=r[12],
        created_at=r[13],
        updated_at=r[14],
    )


class RegistrationStore:
    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self, manufacturer: str, serial: str, product: dict[str, Any], priority: str, subject: str | None
    ) -> Registration:
        now = self.clock()
        rid = "reg-" + uuid.uuid4().hex[:12]

        def q(c: sqlite3.Connection) -> None:
            c.execute(
                f"INSERT INTO registrations ({_COLS}) "
                "VALUES (?,?,?,?,?,'PENDING',NULL,0,?,NULL,NULL,NULL,?,?,?)",
                (rid, manufacturer, serial, subject, priority, json.dumps(product), now, now, now),
            )

        await self.db.run(q)
        return await self.get(rid)

    async def get(self, rid: str) -> Registration:
        row = await self.db.run(
            lambda c: c.execute(f"SELECT {_COLS} FROM registrations WHERE id=?", (rid,)).fetchone()
        )
        if row is None:
            raise NotFoundError(f"no registration {rid!r}")
        return _row(row)

    async def find(self, status: str | None = None, limit: int = 200) -> list[Registration]:
        where, args = ("WHERE status=?", (status, limit)) if status else ("", (limit,))
        rows = await self.db.run(
            lambda c: c.execute(
                f"SELECT {_COLS} FROM registrations {where} ORDER BY created_at DESC LIMIT ?", args
            ).fetchall()
        )
        return [_row(r) for r in rows]

    async def due(self, limit: int = 100) -> list[Registration]:
        """PENDING registrations whose time has come, high priority first, oldest first."""
        now = self.clock()
        rows = await self.db.run(
            lambda c: c.execute(
                f"SELECT {_COLS} FROM registrations WHERE status='PENDING' AND next_at<=? "
                "ORDER BY CASE priority WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, created_at "
                "LIMIT ?",
                (now, limit),
            ).fetchall()
        )
        return [_row(r) for r in rows]

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest PENDING registration is due; None when there is none."""
        at = await self.db.run(
            lambda c: c.execute("SELECT MIN(next_at) FROM registrations WHERE status='PENDING'").fetchone()[0]
        )
        return None if at is None else max(0.0, float(at) - self.clock())

    async def recover(self) -> int:
        """PROCESSING rows left by a crash go back to PENDING. Returns how many."""
        n: int = await self.db.run(
            lambda c: (
                c.execute(
                    "UPDATE registrations SET status='PENDING', updated_at=? WHERE status='PROCESSING'",
                    (self.clock(),),
                ).rowcount
            )
        )
        return n

    async def update(self, rid: str, **changes: Any) -> Registration:
        changes["updated_at"] = self.clock()
        for k in ("result", "manual", "product"):
            if k in changes and changes[k] is not None:
                changes[k] = json.dumps(changes[k])
        sets = ", ".join(f"{k}=?" for k in changes)
        await self.db.run(
            lambda c: c.execute(f"UPDATE registrations SET {sets} WHERE id=?", (*changes.values(), rid))
        )
        return await self.get(rid)

    async def add_attempt(
        self, rid: str, method: str, *, started: float, duration: float, outcome: str, error: str | None
    ) -> int:
        def q(c: sqlite3.Connection) -> int:
            n = int(c.execute("SELECT COUNT(*) FROM attempts WHERE registration=?", (rid,)).fetchone()[0]) + 1
            c.execute(
                "INSERT INTO attempts VALUES (?,?,?,?,?,?,?)",
                (rid, n, method, started, duration, outcome, error),
            )
            c.execute("UPDATE registrations SET attempts=? WHERE id=?", (n, rid))
            return n

        return await self.db.run(q)

    async def attempts(self, rid: str) -> list[Attempt]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT n, method, started_at, duration_s, outcome, error FROM attempts "
                "WHERE registration=? ORDER BY n",
                (rid,),
            ).fetchall()
        )
        return [Attempt(*r) for r in rows]
