"""The durable outbox: SQLite (WAL, synchronous=FULL) with group commit.

A record counts as taken once `put` returns: its row is committed and fsynced.
Rows leave only when the backend says it committed them (`delete_through`, fed by
the backend's per-agent high-water mark) or, in the weaker retention mode, some time
after the broker acknowledged them (`delete_acked_before`).

The put API. The record id contains the epoch and the seq, which are only known at
commit, so the caller passes a `render(seq, epoch) -> bytes` callback that runs inside
the commit (in the outbox thread). If it raises, that caller gets the exception and
the seq is not consumed: seqs stay gap-free and are never reused, even after deletes
or a kill: the next seq is max(seq) + 1 on disk, or what every deleting transaction
stores in `meta` (a put transaction writes nothing but its rows).

Group commit (`sync.outbox_commit`): up to 100 operations per transaction and fsync;
each commit's new pending rows also go to an in-memory tail (`sync.outbox_tail`) that
the link sends from while it keeps up, instead of reading them back from SQLite.

Per-stream caps. Streams named in `droppable` (telemetry) keep at most `caps[stream]`
live rows: the oldest are turned into tombstones (payload dropped, seq kept so the
backend sees a declared gap instead of a missing record) and counted in
`stats().dropped`. Other streams are never dropped: when the disk (or `max_bytes`) is
full, `put` raises OutboxFullError and keeps refusing until deletions free space;
`put(..., reserve=True)` may use a small reserve so the agent can still say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sync.errors import OutboxClosedError, OutboxError, OutboxFullError, PayloadTooLargeError
from sync.outbox_delivery import Deliveries
from sync.outbox_schema import (
    HELD,
    PENDING,
    RESERVE_PAGES,
    SENT,
    OutboxStats,
    Rejected,
    Row,
    connect_writer,
    read_free_bytes,
    read_pending,
    read_rejected,
    read_stats,
    reject_row,
    translate_sqlite_error,
)
from sync.outbox_tail import Tail

__all__ = ["HELD", "PENDING", "SENT", "Outbox", "OutboxStats", "Rejected", "Render", "Row"]

T = TypeVar("T")
Render = Callable[[int, str], bytes]
_INSERT = "INSERT INTO rows (seq, stream, topic, payload, retain, created, state) VALUES "
_INSERT_CHUNK = 500  # x 7 parameters, far below SQLite's 32,766


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return _INSERT + ",".join(["(?,?,?,?,?,?,?)"] * rows)



class Outbox(Deliveries):
    """One SQLite outbox. Use as `async with Outbox(path) as ob:` or open()/close()."""

    def __init__(
        self,
        path: Path,
        *,
        caps: Mapping[str, int] | None = None,
        droppable: Collection[str] = ("telemetry",),
        max_payload: int = 256 * 1024,
        max_bytes: int | None = None,
        max_batch: int = 100,
        linger_s: float = 0.005,
        clock: Callable[[], float] = time.time,
        on_full: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(max_batch=max_batch, linger_s=linger_s)
        self.on_full = on_full  # the disk reserve (sync.disk.DiskGuard.release)
        self.path = Path(path)
        self.caps = dict(caps or {"telemetry": 20_000})
        self.droppable = frozenset(droppable)
        self.max_payload = max_payload
        self.max_bytes = max_bytes
        self.clock = clock
        self.epoch = ""
        self.changed = asyncio.Event()  # set when rows become pending
        # The sender's reads use their own connection and thread: under WAL they never
        # wait behind a commit's fsync (a few ms each), which would gate sending.
        self._reader: sqlite3.Connection | None = None
        self._read_executor: ThreadPoolExecutor | None = None
        self._next_seq = 1
        self._start_seq = 1  # of the running transaction
        self._fresh: list[Row] = []  # its new pending rows, for the tail
        self._inserts: list[tuple[Any, ...]] = []  # its new rows, inserted at commit
        self._streams_put: set[str] = set()  # streams it put rows in (caps)
        self._full = False
        self._max_pages = 0
        self.tail = Tail()

    @property
    def last_seq(self) -> int:
        """The highest seq handed out so far (0 before the first record)."""
        return self._next_seq - 1

    @property
    def full(self) -> bool:
        """New records are being refused (disk or size limit) until acks free space."""
        return self._full

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-read")
        await self._in_thread(self._open_db)
        loop = asyncio.get_running_loop()
        self._reader = await loop.run_in_executor(
            self._read_executor, functools.partial(sqlite3.connect, self.path, check_same_thread=False)
        )
        self.tail = Tail(floor=self.last_seq)  # rows already on disk are read from it
        self._closed = False
        self.changed.set()

    def _open_db(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open_db_once()
        except OutboxError:
            # Opening writes (the WAL, its shared-memory index, the schema on a first
            # start): on a full disk it gets the reserve, or the agent could never start
            # again. A full disk shows here as SQLITE_FULL or as an I/O error (the -shm
            # file cannot grow), so any failure tries the reserve once.
            if self.on_full is None or not self.on_full():
                raise
            self._open_db_once()

    def _open_db_once(self) -> None:
        con = connect_writer(self.path)
        self._con = con
        self.epoch = self._meta("epoch") or ""
        (top,) = con.execute("SELECT MAX(seq) FROM rows").fetchone()
        self._next_seq = max(int(self._meta("next_seq") or 1), int(top or 0) + 1)
        if self.max_bytes is not None:
            page = int(con.execute("PRAGMA page_size").fetchone()[0])
            self._max_pages = max(self.max_bytes // page, 16)
            con.execute(f"PRAGMA max_page_count={self._max_pages}")

    def _meta(self, key: str) -> str | None:
        assert self._con is not None
        row = self._con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if self._reader is not None and self._read_executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._read_executor, self._reader.close)
            self._reader = None
        if self._read_executor is not None:
            self._read_executor.shutdown(wait=True)
            self._read_executor = None
        if self._con is not None:
            con = self._con
            await self._in_thread(con.close)
            self._con = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- transaction hooks (writer thread) ---------------------------------------------

    def _on_begin(self) -> None:
        self._start_seq = self._next_seq
        self._fresh = []
        self._streams_put = set()
        self._inserts = []

    def _on_commit(self, con: sqlite3.Connection) -> None:
        if self._inserts:
            # The transaction's new rows in one multi-row INSERT: sqlite3 lets go of
            # the GIL around every statement step, and with the link busy on the event
            # loop each step's re-acquire waited. Measured: a 100-row transaction took
            # ~5 ms in the writer thread with a statement per row (0.43 ms alone).
            # Nothing in an outbox transaction reads rows it inserts before this point
            # (acks and requeues only touch rows sent earlier).
            for i in range(0, len(self._inserts), _INSERT_CHUNK):
                chunk = self._inserts[i : i + _INSERT_CHUNK]
                con.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
        if self._fresh:  # one effect per transaction, not per row
            self._after_commit(functools.partial(self.tail.extend, self._fresh))
        if self._next_seq != self._start_seq:
            self._enforce_caps(con)

    def _on_rollback(self) -> None:
        self._next_seq = self._start_seq

    def _enforce_caps(self, con: sqlite3.Connection) -> None:
        # Only a put to a stream grows its live count: skip the COUNT for the others.
        for stream in self.droppable & self._streams_put:
            cap = self.caps.get(stream)
            if cap is None:
                continue
            (live,) = con.execute(
                "SELECT COUNT(*) FROM rows WHERE stream=? AND dropped=0", (stream,)
            ).fetchone()
            over = int(live) - cap
            if over <= 0:
                continue
            self._invalidate_tail()  # tail rows may have become tombstones
            con.execute(
                "UPDATE rows SET payload=NULL, dropped=1 WHERE seq IN "
                "(SELECT seq FROM rows WHERE stream=? AND dropped=0 ORDER BY seq LIMIT ?)",
                (stream, over),
            )
            key = f"dropped:{stream}"
            con.execute("INSERT OR IGNORE INTO meta VALUES (?, '0')", (key,))
            con.execute("UPDATE meta SET value=CAST(value AS INTEGER)+? WHERE key=?", (over, key))

    # --- writes ------------------------------------------------------------------------

    async def put(
        self, stream: str, topic: str, render: Render, *, retain: bool = False, reserve: bool = False
    ) -> int:
        """Commit one record; return its seq. `render(seq, epoch)` builds the payload."""
        return await self._put(stream, topic, render, retain=retain, reserve=reserve, state=PENDING)

    async def hold(self, stream: str, topic: str, render: Render, *, retain: bool = False) -> int:
        """Commit a row that is not sent until `release_held` (the link's birth)."""
        return await self._put(stream, topic, render, retain=retain, reserve=True, state=HELD)

    async def _put(
        self, stream: str, topic: str, render: Render, *, retain: bool, reserve: bool, state: int
    ) -> int:
        if self._full and not reserve:
            raise OutboxFullError("outbox is full (disk or size limit): new records refused, old kept")

        def op(con: sqlite3.Connection) -> int:
            seq = self._next_seq
            payload = render(seq, self.epoch)
            if len(payload) > self.max_payload:
                raise PayloadTooLargeError(
                    f"payload of {len(payload)} bytes exceeds the {self.max_payload}-byte limit"
                )
            created = self.clock()
            values = (seq, stream, topic, payload, int(retain), created, state)
            if reserve and self._max_pages:  # may use the reserve: inserted alone, now
                con.execute(f"PRAGMA max_page_count={self._max_pages + RESERVE_PAGES}")
                try:
                    con.execute(_insert_sql(1), values)
                finally:
                    con.execute(f"PRAGMA max_page_count={self._max_pages}")
            else:
                self._inserts.append(values)  # one INSERT per transaction
            self._next_seq = seq + 1
            self._streams_put.add(stream)
            if state == PENDING:
                self._fresh.append(Row(seq, stream, topic, payload, retain, created, 0, False))
            return seq

        try:
            seq: int = await self._submit(op, essential=reserve)
        except OutboxFullError:
            self._full = True
            raise
        if state == PENDING:
            self.changed.set()
        return seq

    async def reject(self, seq: int, reason: str) -> bool:
        """Take a row the broker will not take out of the flow (`reject_row`): its seq
        goes out as a tombstone, its payload is kept in the `rejected` table."""

        def op(con: sqlite3.Connection) -> bool:
            done = reject_row(con, seq, reason, self.clock())
            if done:
                self._invalidate_tail()
            return done

        done: bool = await self._submit(op)
        if done:
            self.changed.set()
        return done

    def space_returned(self) -> None:
        """The disk has room again (the disk monitor saw it): take new records."""
        self._full = False

    async def free_bytes(self) -> int:
        """Bytes in the database's free pages: SQLite reuses them, the filesystem
        does not see them (deleted rows never shrink the file)."""

        def read() -> int:
            assert self._con is not None
            return read_free_bytes(self._con)

        return await self._read(read)

    async def rejected(self) -> list[Rejected]:
        """The newest rows taken out of the flow, with their payloads."""
        def read() -> list[Rejected]:
            assert self._con is not None
            return read_rejected(self._con)

        return await self._read(read)

    async def next_counter(self, name: str) -> int:
        """Increment and return a persistent counter (the link's session number)."""
        key = f"counter:{name}"

        def op(con: sqlite3.Connection) -> int:
            con.execute("INSERT OR IGNORE INTO meta VALUES (?, '0')", (key,))
            con.execute("UPDATE meta SET value=CAST(value AS INTEGER)+1 WHERE key=?", (key,))
            return int(con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

        n: int = await self._submit(op)
        return n

    # --- reads -------------------------------------------------------------------------

    def fresh(self, after: int, limit: int) -> list[Row] | None:
        """Pending rows with seq > after from memory, or None: read them with `pending`."""
        return self.tail.take(after, limit)

    async def pending(self, after: int = 0, limit: int = 100) -> list[Row]:
        """Pending rows with seq > after, oldest first."""

        def read() -> list[Row]:
            assert self._reader is not None
            return read_pending(self._reader, after, limit)

        if self._closed or self._read_executor is None:
            raise OutboxClosedError("outbox is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._read_executor, read)
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc) from None

    async def held_seqs(self) -> set[int]:
        """Every seq the outbox still holds (any state)."""
        def read() -> set[int]:
            assert self._con is not None
            return {int(s) for (s,) in self._con.execute("SELECT seq FROM rows")}

        return await self._read(read)

    async def stats(self) -> OutboxStats:
        def read() -> OutboxStats:
            assert self._con is not None
            last = self._next_seq - 1
            return read_stats(self._con, epoch=self.epoch, last_seq=last, now=self.clock(), full=self._full)

        return await self._read(read)

    async def _read(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise OutboxClosedError("outbox is closed")
        try:
            return await self._in_thread(fn)
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc) from None
