"""One SQLite file used off the event loop: the enrichment state (agent/enrich/db.py)
and the bay screen's state (agent/ui/store.py) are both this.

Every statement runs in a worker thread (`asyncio.to_thread`) under one lock with one
connection: SQLite allows one writer anyway, and a single connection avoids "database
is locked" between our own threads. Each `run` is one transaction, begun IMMEDIATE so
that another process writing the same file (`baygate registration complete` next to
the running agent) makes it wait the busy timeout (5 s) instead of failing mid-way.
WAL with synchronous=NORMAL: a power cut may lose the last transaction, never corrupt
the file. The subclass names its schema and how its errors read.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self, TypeVar

from agent.errors import AgentError

__all__ = ["ThreadedSQLite"]

T = TypeVar("T")


class ThreadedSQLite:
    """One SQLite connection, used from worker threads only."""

    SCHEMA: ClassVar[str] = ""
    WHAT: ClassVar[str] = "state database"  # how errors name the file
    ERROR: ClassVar[type[AgentError]] = AgentError  # the package's own (errors.py)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(self.SCHEMA)
        except sqlite3.Error as exc:
            raise self.ERROR(f"{self.WHAT} {path}: {exc}") from None

    @classmethod
    async def open(cls, path: Path) -> Self:
        return await asyncio.to_thread(cls, path)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one transaction (in the calling thread)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise self.ERROR(f"{self.WHAT}: {exc}") from None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one transaction in a worker thread."""
        return await asyncio.to_thread(self.run_sync, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
