"""The outbox's table: its SQLite schema, the row states, and the row/stats types
the link reads. Kept apart from `sync.outbox` (the commit machinery) so the on-disk
format is in one short place.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from sync.errors import OutboxError, OutboxFullError

__all__ = [
    "HELD",
    "PENDING",
    "RESERVE_PAGES",
    "SCHEMA",
    "SENT",
    "OutboxStats",
    "Row",
    "translate_sqlite_error",
]

PENDING: Final = 0  # waiting to be handed to the broker
SENT: Final = 1  # the broker acknowledged it (PUBACK); kept until the backend acks
HELD: Final = 2  # allocated but not to be sent yet (the link's birth, until CONNACK)

_SQLITE_FULL = 13
RESERVE_PAGES = 64  # room for an alert record when the size limit is reached

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB,
    retain INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    acked_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rows_state ON rows (state, seq);
CREATE INDEX IF NOT EXISTS rows_stream ON rows (stream, dropped, seq);
"""


class Row(NamedTuple):
    """One outbox row as the link sends it. A NamedTuple, not a frozen dataclass:
    one is built per record on the hot path, and a frozen dataclass's __init__
    (object.__setattr__ per field) costs ~4x as much."""

    seq: int
    stream: str
    topic: str
    payload: bytes  # b"" for a tombstone (dropped telemetry)
    retain: bool
    created: float
    attempts: int
    dropped: bool


@dataclass(frozen=True)
class OutboxStats:
    epoch: str
    last_seq: int
    depth: int
    pending: int
    sent: int
    held: int
    oldest_pending_age_s: float | None
    oldest_sent_age_s: float | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    full: bool = False


def translate_sqlite_error(exc: sqlite3.Error) -> OutboxError:
    if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
        return OutboxFullError("outbox is full (disk or size limit): new records refused, old kept")
    return OutboxError(f"outbox database error: {exc}")
