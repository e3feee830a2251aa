"""The backend's record store: SQLite (embedded default) or PostgreSQL (psycopg 3).

One transaction per batch: each record is inserted if absent, keyed by
(agent, epoch, seq), and the agent's stream row (high-water mark, highest seq seen,
counts, lag) is updated in the same transaction, so a crash between the two cannot
make the backend ack something it has not stored. The high-water mark `hw` is the
highest seq with every seq <= hw present (a tombstone counts): that is what the
backend acks and what lets the agent delete rows.
Malformed messages go to `rejects` for inspection, bounded: each payload truncated to
`REJECT_PAYLOAD_BYTES` and only the newest `max_rejects` rows kept (issue 10: ten
8 MiB rejects added 126 MB). Presence is keyed by (shop, agent): two shops' `bay-1`
are two agents.

Not thread-safe: the ingest calls it from one worker thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.envelope import Incoming
from sync.errors import StoreError
from sync.redact import redact

__all__ = [
    "REJECT_PAYLOAD_BYTES",
    "AgentStats",
    "BatchResult",
    "Reject",
    "Store",
    "StreamState",
    "open_store",
]

REJECT_PAYLOAD_BYTES = 4096  # enough to see what was wrong; the rest is dropped
_REASON_CHARS = 500
MAX_REJECTS = 10_000

_TABLES = """
CREATE TABLE IF NOT EXISTS records (
    agent TEXT NOT NULL, epoch TEXT NOT NULL, seq BIGINT NOT NULL,
    shop TEXT NOT NULL, kind TEXT NOT NULL, payload {blob}, dropped BOOLEAN NOT NULL,
    historical BOOLEAN NOT NULL, received {real} NOT NULL,
    PRIMARY KEY (agent, epoch, seq));
CREATE TABLE IF NOT EXISTS streams (
    agent TEXT NOT NULL, epoch TEXT NOT NULL, shop TEXT NOT NULL,
    hw BIGINT NOT NULL DEFAULT 0, max_seq BIGINT NOT NULL DEFAULT 0,
    count BIGINT NOT NULL DEFAULT 0, dropped BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0, last_received {real}, lag_s {real},
    PRIMARY KEY (agent, epoch));
CREATE TABLE IF NOT EXISTS agent_presence (
    shop TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL, seq BIGINT NOT NULL,
    session BIGINT NOT NULL, state TEXT NOT NULL, received {real} NOT NULL,
    PRIMARY KEY (shop, agent));
CREATE TABLE IF NOT EXISTS rejects (
    id {serial}, topic TEXT NOT NULL, payload {blob}, reason TEXT NOT NULL, received {real} NOT NULL)
"""


_INSERT = "INSERT INTO records (agent, epoch, seq, shop, kind, payload, dropped, historical, received) "
_ROW = "(?,?,?,?,?,?,?,?,?)"
_DDL_LOCK = 0x6261796761746531  # "baygate1": the advisory lock around creating the tables
_CHUNK = 500  # x 9 parameters: under SQLite's 32,766 and PostgreSQL's 65,535


@dataclass(frozen=True)
class Reject:
    topic: str
    payload: bytes
    reason: str


@dataclass(frozen=True)
class StreamState:
    shop: str
    agent: str
    epoch: str
    hw: int
    max_seq: int


@dataclass(frozen=True)
class BatchResult:
    inserted: int
    duplicates: int
    rejected: int
    streams: list[StreamState]
    # (shop, agent, epoch, seqs): seqs an agent no longer holds, acked by a backend
    # whose records this store does not have; the high-water mark moved past them
    skipped: list[tuple[str, str, str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class AgentStats:
    shop: str
    agent: str
    epoch: str
    count: int
    hw: int
    max_seq: int
    missing: int  # seqs between hw and max_seq not received yet
    dropped: int
    duplicates: int
    lag_s: float | None  # received - record ts, for the latest batch
    last_received: float | None


class Store:
    def __init__(self, con: Any, dialect: str, *, max_rejects: int = MAX_REJECTS) -> None:
        self._con = con
        self.dialect = dialect
        self.max_rejects = max_rejects
        self._lock = " FOR UPDATE" if dialect == "postgresql" else ""

    def _sql(self, q: str) -> str:
        return q.replace("?", "%s") if self.dialect == "postgresql" else q

    def _x(self, q: str, params: Sequence[Any] = ()) -> Any:
        return self._con.execute(self._sql(q), params)

    def init(self) -> None:
        if self.dialect == "postgresql":
            ddl = _TABLES.format(blob="BYTEA", real="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY")
        else:
            ddl = _TABLES.format(blob="BLOB", real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT")
        with self._tx():
            if self.dialect == "postgresql":
                # CREATE TABLE IF NOT EXISTS is not safe when N workers start together on a
                # fresh database (one fails on pg_type's unique index): take turns.
                self._x("SELECT pg_advisory_xact_lock(?)", (_DDL_LOCK,))
            for stmt in ddl.split(";"):
                self._x(stmt)

    def _tx(self) -> Any:
        if self.dialect == "postgresql":
            return self._con.transaction()
        return _SqliteTx(self._con)

    def commit(self, records: Sequence[Incoming], rejects: Sequence[Reject] = ()) -> BatchResult:
        """Store a batch in one transaction; returns the streams whose state moved."""
        try:
            return self._commit(records, rejects)
        except (sqlite3.Error, _pg_error()) as exc:
            raise StoreError(f"storing a batch of {len(records)} records failed: {exc}") from None

    def _commit(self, records: Sequence[Incoming], rejects: Sequence[Reject]) -> BatchResult:
        now = time.time()
        inserted = dups = 0
        touched: dict[tuple[str, str], list[Incoming]] = {}
        dup_by: dict[tuple[str, str], int] = {}
        with self._tx():
            stored = self._insert(records, now)
            for r in records:
                key = (r.agent, r.epoch)
                touched.setdefault(key, [])
                if (r.agent, r.epoch, r.seq) in stored:
                    stored.discard((r.agent, r.epoch, r.seq))  # a second copy in the batch is a dup
                    inserted += 1
                    touched[key].append(r)
                else:
                    dups += 1
                    dup_by[key] = dup_by.get(key, 0) + 1
            skipped: list[tuple[str, str, str, int]] = []
            for r in records:
                if r.state is not None and r.session is not None:
                    self._presence(r, now)
                if r.acked_through is not None and (n := self._skip_acked(r)):
                    skipped.append((r.shop, r.agent, r.epoch, n))
            for rej in rejects[-self.max_rejects :]:
                self._x(
                    "INSERT INTO rejects (topic, payload, reason, received) VALUES (?,?,?,?)",
                    (rej.topic[:300], rej.payload[:REJECT_PAYLOAD_BYTES], rej.reason[:_REASON_CHARS], now),
                )
            if rejects:
                self._x(
                    "DELETE FROM rejects WHERE id <= (SELECT MAX(id) FROM rejects) - ?", (self.max_rejects,)
                )
            states = [
                self._advance(key, new_recs, dup_by.get(key, 0), records, now)
                for key, new_recs in sorted(touched.items())
            ]
        return BatchResult(inserted, dups, len(rejects), states, skipped)

    def _insert(self, records: Sequence[Incoming], now: float) -> set[tuple[str, str, int]]:
        """Insert if absent, a few hundred rows per statement; the keys actually stored.
        One statement per chunk, not per record: the store runs in a worker thread and
        each statement step gives the GIL back to the ingest's busy event loop, which
        is slow to return it (measured on the agent's outbox: 5 ms vs 0.4 ms a batch)."""
        stored: set[tuple[str, str, int]] = set()
        for i in range(0, len(records), _CHUNK):
            chunk = records[i : i + _CHUNK]
            params: list[Any] = []
            for r in chunk:
                params += (r.agent, r.epoch, r.seq, r.shop, r.kind)
                params += (r.payload or None, r.dropped, r.historical, now)
            values = ",".join([_ROW] * len(chunk))
            sql = f"{_INSERT}VALUES {values} ON CONFLICT DO NOTHING RETURNING agent, epoch, seq"
            stored.update((str(a), str(e), int(q)) for a, e, q in self._x(sql, params).fetchall())
        return stored

    def _presence(self, r: Incoming, now: float) -> None:
        """Latest liveness per (shop, agent): a later session wins; within one,
        offline wins."""
        self._x(
            "INSERT INTO agent_presence (shop, agent, epoch, seq, session, state, received) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT (shop, agent) DO UPDATE SET epoch=excluded.epoch, "
            "seq=excluded.seq, session=excluded.session, state=excluded.state, received=excluded.received "
            "WHERE excluded.session > agent_presence.session OR excluded.epoch != agent_presence.epoch "
            "OR (excluded.session = agent_presence.session AND excluded.state = 'offline')",
            (r.shop, r.agent, r.epoch, r.seq, r.session, r.state, now),
        )

    def _skip_acked(self, r: Incoming) -> int:
        """A birth says every seq up to `acked_through` was acked by a backend and is
        gone from the agent. A store without them (restored from an older backup, or a
        new database) would wait for them for ever and ack nothing after them, and the
        agent's outbox would grow until its disk is full. Move the high-water mark past
        them; returns how many of them this store never received."""
        assert r.acked_through is not None
        self._x(
            "INSERT INTO streams (agent, epoch, shop) VALUES (?,?,?) ON CONFLICT DO NOTHING",
            (r.agent, r.epoch, r.shop),
        )
        (hw,) = self._x(
            "SELECT hw FROM streams WHERE agent=? AND epoch=?" + self._lock, (r.agent, r.epoch)
        ).fetchone()
        hw = int(hw)
        if r.acked_through <= hw:
            return 0
        (have,) = self._x(
            "SELECT COUNT(*) FROM records WHERE agent=? AND epoch=? AND seq>? AND seq<=?",
            (r.agent, r.epoch, hw, r.acked_through),
        ).fetchone()
        self._x("UPDATE streams SET hw=? WHERE agent=? AND epoch=?", (r.acked_through, r.agent, r.epoch))
        return r.acked_through - hw - int(have)

    def presence(self) -> dict[tuple[str, str], tuple[str, int]]:
        """(shop, agent) -> (state, session)."""
        rows = self._x("SELECT shop, agent, state, session FROM agent_presence").fetchall()
        return {(sh, a): (st, int(se)) for sh, a, st, se in rows}

    def _advance(
        self, key: tuple[str, str], new: list[Incoming], dups: int, batch: Sequence[Incoming], now: float
    ) -> StreamState:
        agent, epoch = key
        shop = next(r.shop for r in batch if (r.agent, r.epoch) == key)
        self._x(
            "INSERT INTO streams (agent, epoch, shop) VALUES (?,?,?) ON CONFLICT DO NOTHING",
            (agent, epoch, shop),
        )
        hw, max_seq = self._x(
            "SELECT hw, max_seq FROM streams WHERE agent=? AND epoch=?" + self._lock, (agent, epoch)
        ).fetchone()
        hw = int(hw)
        max_seq = max([int(max_seq), *(r.seq for r in new)])
        while True:  # walk forward over contiguous seqs, 1000 at a time
            seqs = [
                int(s)
                for (s,) in self._x(
                    "SELECT seq FROM records WHERE agent=? AND epoch=? AND seq>? ORDER BY seq LIMIT 1000",
                    (agent, epoch, hw),
                )
            ]
            start = hw
            for s in seqs:
                if s != hw + 1:
                    break
                hw = s
            if len(seqs) < 1000 or hw - start < len(seqs):
                break
        lags = [now - r.ts for r in new if r.ts is not None]
        self._x(
            "UPDATE streams SET hw=?, max_seq=?, count=count+?, dropped=dropped+?, duplicates=duplicates+?, "
            "last_received=?, "
            "lag_s=COALESCE(?, lag_s) WHERE agent=? AND epoch=?",
            (
                hw,
                max_seq,
                sum(not r.dropped for r in new),
                sum(r.dropped for r in new),
                dups,
                now,
                max(lags) if lags else None,
                agent,
                epoch,
            ),
        )
        return StreamState(shop, agent, epoch, hw, max_seq)

    def stats(self) -> list[AgentStats]:
        rows = self._x(
            "SELECT shop, agent, epoch, count, hw, max_seq, dropped, duplicates, lag_s, last_received "
            "FROM streams ORDER BY shop, agent, last_received"
        ).fetchall()
        out = []
        for shop, agent, epoch, count, hw, max_seq, dropped, dups, lag, last in rows:
            (above,) = self._x(
                "SELECT COUNT(*) FROM records WHERE agent=? AND epoch=? AND seq>?", (agent, epoch, hw)
            ).fetchone()
            missing = int(max_seq) - int(hw) - int(above)
            out.append(
                AgentStats(
                    shop,
                    agent,
                    epoch,
                    int(count),
                    int(hw),
                    int(max_seq),
                    missing,
                    int(dropped),
                    int(dups),
                    lag,
                    last,
                )
            )
        return out

    def fleet_rows(self, alerts_since: float) -> dict[str, list[tuple[Any, ...]]]:
        """Per-agent rows for the fleet view (sync/fleet.py): presence with its receive
        time, streams summed over epochs, and alert payloads received since `alerts_since`."""
        per: dict[tuple[str, str], list[Any]] = {}
        for st in self.stats():
            row = per.setdefault((st.shop, st.agent), [None, 0, 0])
            if st.last_received is not None:
                row[0] = max(row[0] or 0.0, st.last_received)
            row[1] += st.count
            row[2] += st.missing
        presence = self._x("SELECT shop, agent, state, received FROM agent_presence").fetchall()
        alerts = self._x(
            "SELECT shop, agent, payload FROM records WHERE kind='alert' AND received>=? "
            "ORDER BY received, agent, epoch, seq",
            (alerts_since,),
        ).fetchall()
        return {
            "streams": [(s, a, *row) for (s, a), row in sorted(per.items())],
            "presence": [(s, a, st, float(r)) for s, a, st, r in presence],
            "alerts": [(s, a, bytes(p or b"")) for s, a, p in alerts],
        }

    def records(self, agent: str | None = None) -> list[tuple[str, str, int, str, bytes | None]]:
        """(agent, epoch, seq, kind, payload) in order — for tests, the demo and exports."""
        q = "SELECT agent, epoch, seq, kind, payload FROM records"
        params: tuple[Any, ...] = ()
        if agent is not None:
            q, params = q + " WHERE agent=?", (agent,)
        rows = self._x(q + " ORDER BY agent, epoch, seq", params).fetchall()
        return [(a, e, int(s), k, None if p is None else bytes(p)) for a, e, s, k, p in rows]

    def rejects(self) -> list[Reject]:
        rows = self._x("SELECT topic, payload, reason FROM rejects ORDER BY id").fetchall()
        return [Reject(t, bytes(p or b""), r) for t, p, r in rows]

    def close(self) -> None:
        self._con.close()


class _SqliteTx:
    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def __enter__(self) -> None:
        self._con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._con.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _pg_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # a Pi installs baygate without the [backend] extra
        return sqlite3.Error
    return psycopg.Error  # type: ignore[no-any-return]


def _wal(con: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL. Two processes opening a fresh file together (the ingest starting
    while `baygate backend --stats` reads) can get "database is locked" at once: the
    switch needs the file to itself and SQLite does not wait for it there. Retry for
    up to ~5 s, as the busy timeout would."""
    for attempt in range(attempts):
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def open_store(db: str, password: str | None = None) -> Store:
    """`postgresql://...` (psycopg 3) or a SQLite file path (`sqlite:///path` also accepted).
    The PostgreSQL password may come apart from the URL (`password`, or libpq's own
    PGPASSWORD / PGPASSFILE), so it never has to be on a command line."""
    try:
        if db.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise StoreError(
                    "a PostgreSQL store needs psycopg: pip install 'baygate[backend]'"
                ) from None

            if password is None:
                con: Any = psycopg.connect(db, autocommit=True)
            else:
                con = psycopg.connect(db, autocommit=True, password=password)
            store = Store(con, "postgresql")
        else:
            path = Path(db.removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
            _wal(con)
            con.execute("PRAGMA synchronous=FULL")
            store = Store(con, "sqlite")
        store.init()
    except (sqlite3.Error, OSError, _pg_error()) as exc:
        raise StoreError(f"cannot open backend store {redact(db)}: {redact(str(exc))}") from None
    return store
