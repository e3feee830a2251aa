"""The enrichment state database: one SQLite file in the state dir, used off the event loop
(agent/threaded_sqlite.py: worker threads, one lock, one connection).

Cache, breaker states, the durable queue and registrations share one file so a Pi has
one thing to back up.
"""

from __future__ import annotations

from agent.enrich.errors import EnrichError
from agent.threaded_sqlite import ThreadedSQLite

__all__ = ["StateDB"]

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


class StateDB(ThreadedSQLite):
    """The enrichment state: one connection, used from worker threads only."""

    SCHEMA = SCHEMA
    WHAT = "enrichment state database"
    ERROR = EnrichError
