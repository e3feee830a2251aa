"""The enrichment state database: one SQLite file in the state dir, used off the event loop.

Cache, breaker states, the durable queue and registrations share one file so a Pi has
one thing to back up. Every statement runs in a worker thread (`asyncio.to_thread`)
under one lock: SQLite allows one writer anyway, and a single connection avoids
"database is locked" between our own threads.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.enrich.errors import EnrichError

__all__ = ["StateDB"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, ok INTEGER NOT NULL,
  stored_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cache_age ON cache(stored_at);
CREATE TABLE IF NOT EXISTS breakers (
  name TEXT PRIMARY KEY, state TEXT NOT NULL, failures INTEGER NOT NULL, opened_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT, payload TEXT NOT NULL,
  priority INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
  last_error TEXT, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS queue_due ON queue(next_at, priority);
CREATE TABLE IF NOT EXISTS registrations (
  id TEXT PRIMARY KEY, manufacturer TEXT NOT NULL, serial TEXT NOT NULL, subject TEXT,
  priority TEXT NOT NULL, status TEXT NOT NULL, method TEXT, attempts INTEGER NOT NULL,
  product TEXT NOT NULL, result TEXT, manual TEXT, error TEXT, next_at REAL NOT NULL,
  created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
  registration TEXT NOT NULL, n INTEGER NOT NULL, method TEXT NOT NULL, started_at REAL NOT NULL,
  duration_s REAL NOT NULL, outcome TEXT NOT NULL, error TEXT, PRIMARY KEY (registration, n));
"""


class StateDB:
    """One SQLite connection, used from worker threads only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL + WAL: a power cut may lose the last transaction, never corrupt the file.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise EnrichError(f"enrichment state database {path}: {exc}") from None

    @classmethod
    async def open(cls, path: Path) -> StateDB:
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
                raise EnrichError(f"enrichment state database: {exc}") from None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one transaction in a worker thread."""
        return await asyncio.to_thread(self.run_sync, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
