"""The outbox's table: its SQLite schema, the row states, the row/stats types the
link reads, and the read queries. Kept apart from `sync.outbox` (the commit
machinery) so the on-disk format is in one short place.
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
    "read_pending",
    "read_stats",
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


def read_pending(con: sqlite3.Connection, after: int, limit: int) -> list[Row]:
    """Pending rows with seq > after, oldest first."""
    cur = con.execute(
        "SELECT seq, stream, topic, payload, retain, created, attempts, dropped FROM rows "
        "WHERE state=0 AND seq>? ORDER BY seq LIMIT ?",
        (after, limit),
    )
    return [Row(s, st, t, bytes(p or b""), bool(r), c, a, bool(d)) for s, st, t, p, r, c, a, d in cur]


def read_stats(con: sqlite3.Connection, *, epoch: str, last_seq: int, now: float, full: bool) -> OutboxStats:
    counts = dict.fromkeys((PENDING, SENT, HELD), 0)
    for state, n in con.execute("SELECT state, COUNT(*) FROM rows GROUP BY state"):
        counts[int(state)] = int(n)
    (oldest,) = con.execute("SELECT MIN(created) FROM rows WHERE state=0").fetchone()
    (sent_at,) = con.execute("SELECT MIN(acked_at) FROM rows WHERE state=1").fetchone()
    meta = con.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'")
    dropped = {str(k)[8:]: int(v) for k, v in meta}
    return OutboxStats(
        epoch=epoch,
        last_seq=last_seq,
        depth=sum(counts.values()),
        pending=counts[PENDING],
        sent=counts[SENT],
        held=counts[HELD],
        oldest_pending_age_s=None if oldest is None else max(0.0, now - float(oldest)),
        oldest_sent_age_s=None if sent_at is None else max(0.0, now - float(sent_at)),
        dropped=dropped,
        full=full,
    )
