"""The outbox's table: its SQLite schema, the row states, the row/stats types the
link reads, and the read queries. Kept apart from `sync.outbox` (the commit
machinery) so the on-disk format is in one short place.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

from sync.errors import OutboxError, OutboxFullError

__all__ = [
    "HELD",
    "KEEP_REJECTED",
    "PENDING",
    "RESERVE_PAGES",
    "SCHEMA",
    "SENT",
    "TOMB_REJECTED",
    "TOMB_SHED",
    "WAL_LIMIT",
    "WAL_PAGES",
    "OutboxStats",
    "Rejected",
    "Row",
    "connect_writer",
    "read_free_bytes",
    "read_pending",
    "read_rejected",
    "read_stats",
    "reject_row",
    "translate_sqlite_error",
]

PENDING: Final = 0  # waiting to be handed to the broker
SENT: Final = 1  # the broker acknowledged it (PUBACK); kept until the backend acks
HELD: Final = 2  # allocated but not to be sent yet (the link's birth, until CONNACK)

# `rows.dropped`: why a row is a tombstone (payload gone, seq kept and sent).
TOMB_SHED: Final = 1  # telemetry over its cap or shed under disk pressure
TOMB_REJECTED: Final = 2  # the broker will not take it (over its Maximum Packet Size)
# Rejected payloads kept for an operator (`rejected` table), newest first: at most
# 16 x the 256 KiB payload cap = 4 MiB, so a stream of rejects cannot fill the disk.
KEEP_REJECTED: Final = 16

# A small WAL (checkpoint every 256 pages, ~1 MiB; the file cut back to 2 MiB after
# one) instead of SQLite's 1,000 pages: on a full disk a checkpoint grows the database
# by what the WAL holds, and that must fit in the disk reserve (sync.disk, 4 MiB).
# Measured on an 8 MiB tmpfs with the default: a 4 MiB WAL, and one checkpoint ate a
# 512 KiB reserve whole. Cost: bench/outbox_wal.py.
WAL_PAGES = 256
WAL_LIMIT = 2 << 20

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
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB
);
"""


class Row(NamedTuple):
    """One outbox row as the link sends it. A NamedTuple, not a frozen dataclass:
    one is built per record on the hot path, and a frozen dataclass's __init__
    (object.__setattr__ per field) costs ~4x as much."""

    seq: int
    stream: str
    topic: str
    payload: bytes  # b"" for a tombstone
    retain: bool
    created: float
    attempts: int
    dropped: int  # 0, or why it is a tombstone: TOMB_SHED, TOMB_REJECTED


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
    rejected: int = 0  # rows the broker would not take, turned into tombstones
    lowest_held: int | None = None  # the lowest seq still in the outbox (any state)

    @property
    def acked_through(self) -> int:
        """Every seq up to this one has left the outbox. Rows leave only on a backend's
        ack (or, in retention mode, long after the broker took them): a backend that
        lacks them lost them, and cannot get them from this agent again."""
        return self.last_seq if self.lowest_held is None else self.lowest_held - 1


def connect_writer(path: Path) -> sqlite3.Connection:
    """The outbox's writer connection: WAL, fsync on commit, the schema, an epoch."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
        con.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        con.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        con.executescript(SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (str(uuid.uuid4()),))
        con.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', '1')")
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        con.close()
        raise translate_sqlite_error(exc) from None
    return con


def read_free_bytes(con: sqlite3.Connection) -> int:
    (pages,) = con.execute("PRAGMA freelist_count").fetchone()
    (size,) = con.execute("PRAGMA page_size").fetchone()
    return int(pages) * int(size)


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
    return [Row(s, st, t, bytes(p or b""), bool(r), c, a, int(d)) for s, st, t, p, r, c, a, d in cur]


@dataclass(frozen=True)
class Rejected:
    seq: int
    stream: str
    topic: str
    reason: str
    at: float
    size: int
    payload: bytes


def reject_row(con: sqlite3.Connection, seq: int, reason: str, at: float) -> bool:
    """Take row `seq` out of the flow: its payload moves to `rejected` (the newest
    KEEP_REJECTED are kept), the row becomes a pending tombstone (TOMB_REJECTED) so the
    backend learns its seq is a declared gap. False if the row is gone or a tombstone."""
    row = con.execute("SELECT stream, topic, payload FROM rows WHERE seq=? AND dropped=0", (seq,)).fetchone()
    if row is None:
        return False
    stream, topic, payload = row
    size = len(payload or b"")
    con.execute(
        "INSERT OR REPLACE INTO rejected (seq, stream, topic, reason, at, size, payload) "
        "VALUES (?,?,?,?,?,?,?)",
        (seq, stream, topic, reason, at, size, payload),
    )
    con.execute(
        "DELETE FROM rejected WHERE seq NOT IN (SELECT seq FROM rejected ORDER BY seq DESC LIMIT ?)",
        (KEEP_REJECTED,),
    )
    con.execute("UPDATE rows SET payload=NULL, dropped=?, state=0 WHERE seq=?", (TOMB_REJECTED, seq))
    con.execute("INSERT OR IGNORE INTO meta VALUES ('rejected', '0')")
    con.execute("UPDATE meta SET value=CAST(value AS INTEGER)+1 WHERE key='rejected'")
    return True


def read_rejected(con: sqlite3.Connection) -> list[Rejected]:
    cur = con.execute("SELECT seq, stream, topic, reason, at, size, payload FROM rejected ORDER BY seq")
    return [Rejected(int(s), st, t, r, float(a), int(n), bytes(p or b"")) for s, st, t, r, a, n, p in cur]


def read_stats(con: sqlite3.Connection, *, epoch: str, last_seq: int, now: float, full: bool) -> OutboxStats:
    counts = dict.fromkeys((PENDING, SENT, HELD), 0)
    for state, n in con.execute("SELECT state, COUNT(*) FROM rows GROUP BY state"):
        counts[int(state)] = int(n)
    (oldest,) = con.execute("SELECT MIN(created) FROM rows WHERE state=0").fetchone()
    (sent_at,) = con.execute("SELECT MIN(acked_at) FROM rows WHERE state=1").fetchone()
    meta = con.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'")
    dropped = {str(k)[8:]: int(v) for k, v in meta}
    rejected = con.execute("SELECT value FROM meta WHERE key='rejected'").fetchone()
    (lowest,) = con.execute("SELECT MIN(seq) FROM rows").fetchone()
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
        rejected=int(rejected[0]) if rejected else 0,
        lowest_held=None if lowest is None else int(lowest),
    )
