"""The bay screen's durable state: visits, what is known of each vehicle, and tasks, in
one SQLite file in the agent's state dir (`ui.sqlite3`), used off the event loop.

Visits must survive a restart (a Pi reboots mid-repair; the pre-scan taken an hour ago
is the one the insurer wants). Every statement runs in a worker thread under one lock
with one connection (agent/threaded_sqlite.py, like the enrichment state).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.records import VisitDiff, VisitScan
from agent.threaded_sqlite import ThreadedSQLite
from agent.ui.errors import NotFoundError, UiError

__all__ = ["Task", "UiStore", "Vehicle", "Visit"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
  id TEXT PRIMARY KEY, bay TEXT NOT NULL, vin TEXT, state TEXT NOT NULL,
  started_at TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS visits_vin ON visits(vin, started_at);
CREATE INDEX IF NOT EXISTS visits_open ON visits(state, bay);
CREATE TABLE IF NOT EXISTS vehicles (vin TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, bay TEXT NOT NULL, vin TEXT, created_at TEXT NOT NULL, body TEXT NOT NULL);
"""


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Visit(_State):
    """A visit as the book keeps it: the `visit` record's body plus what it needs to
    decide (the latest full scan, when the car was last heard of)."""

    visit: str
    bay: str
    state: Literal["open", "finished", "gone"] = "open"
    vin: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    started_by: Literal["dongle", "scan"]
    technician: str | None = None
    pre: VisitScan | None = None
    post: VisitScan | None = None
    diff: VisitDiff | None = None
    latest: VisitScan | None = None
    last_seen: datetime
    distance_since_clear_km: float | None = None

    def record_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"latest", "last_seen", "distance_since_clear_km"})


class Vehicle(_State):
    """What enrichment said about a VIN: decoded facts and open recalls."""

    vin: str
    make: str | None = None
    model: str | None = None
    year: int | None = None
    offline: dict[str, Any] = Field(default_factory=dict, description="WMI manufacturer, country, year")
    decode_source: str | None = None
    recalls: list[dict[str, Any]] = Field(default_factory=list)
    recalls_checked_on: datetime | None = None


class Task(_State):
    """Something for the technician: a manual registration or a recall notice."""

    id: str
    bay: str
    vin: str | None = None
    kind: Literal["registration", "recall"]
    title: str
    url: str | None = None
    steps: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict, description="pre-filled form data")
    created_at: datetime
    done_at: datetime | None = None
    done_by: str | None = None


class UiStore(ThreadedSQLite):
    """The bay screen's state: one connection, used from worker threads only."""

    SCHEMA = SCHEMA
    WHAT = "bay screen state"
    ERROR = UiError

    # -- visits ----------------------------------------------------------------------

    async def put_visit(self, v: Visit) -> None:
        row = (v.visit, v.bay, v.vin, v.state, v.started_at.isoformat(), v.model_dump_json())
        await self.run(lambda c: c.execute("INSERT OR REPLACE INTO visits VALUES (?,?,?,?,?,?)", row))

    async def visit(self, visit_id: str) -> Visit:
        rows = await self.run(
            lambda c: c.execute("SELECT body FROM visits WHERE id = ?", (visit_id,)).fetchall()
        )
        if not rows:
            raise NotFoundError(f"no visit {visit_id}")
        return Visit.model_validate_json(rows[0][0])

    async def open_visits(self) -> list[Visit]:
        rows = await self.run(
            lambda c: c.execute("SELECT body FROM visits WHERE state = 'open' ORDER BY started_at").fetchall()
        )
        return [Visit.model_validate_json(r[0]) for r in rows]

    async def visits_of(self, vin: str, limit: int = 50) -> list[Visit]:
        """Visits of a VIN, newest first."""
        q = "SELECT body FROM visits WHERE vin = ? ORDER BY started_at DESC LIMIT ?"
        rows = await self.run(lambda c: c.execute(q, (vin, limit)).fetchall())
        return [Visit.model_validate_json(r[0]) for r in rows]

    # -- vehicles --------------------------------------------------------------------

    async def vehicle(self, vin: str) -> Vehicle | None:
        q = "SELECT body FROM vehicles WHERE vin = ?"
        rows = await self.run(lambda c: c.execute(q, (vin,)).fetchall())
        return Vehicle.model_validate_json(rows[0][0]) if rows else None

    async def put_vehicle(self, v: Vehicle) -> None:
        row = (v.vin, v.model_dump_json())
        await self.run(lambda c: c.execute("INSERT OR REPLACE INTO vehicles VALUES (?,?)", row))

    # -- tasks -----------------------------------------------------------------------

    async def put_task(self, t: Task) -> None:
        row = (t.id, t.bay, t.vin, t.created_at.isoformat(), t.model_dump_json())
        await self.run(lambda c: c.execute("INSERT OR REPLACE INTO tasks VALUES (?,?,?,?,?)", row))

    async def task(self, task_id: str) -> Task:
        q = "SELECT body FROM tasks WHERE id = ?"
        rows = await self.run(lambda c: c.execute(q, (task_id,)).fetchall())
        if not rows:
            raise NotFoundError(f"no task {task_id}")
        return Task.model_validate_json(rows[0][0])

    async def tasks_of(self, bay: str, limit: int = 100) -> list[Task]:
        q = "SELECT body FROM tasks WHERE bay = ? ORDER BY created_at DESC LIMIT ?"
        rows = await self.run(lambda c: c.execute(q, (bay, limit)).fetchall())
        return [Task.model_validate_json(r[0]) for r in rows]


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
