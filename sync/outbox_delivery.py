"""What happens to an outbox row after it is put: a held birth is released or dropped,
the broker's PUBACK marks it broker-acked (SENT), the backend's committed high-water
mark deletes it (or, in retention mode, its age does), and a resend, a replay or an
ack timeout makes it pending again. Each is one statement in the outbox's group commit
(sync/outbox_commit.py); the outbox itself (sync/outbox.py) puts, reads and opens.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from sync.outbox_commit import GroupCommitter
from sync.outbox_schema import HELD, PENDING, SENT
from sync.outbox_tail import Tail

__all__ = ["Deliveries"]

_MARK_SENT = "UPDATE rows SET state=?, acked_at=?, attempts=attempts+1 WHERE state=0 AND "


class Deliveries(GroupCommitter):
    """The row-state transitions of `sync.outbox.Outbox` (its base class)."""

    # The outbox's own state, set by Outbox.__init__ and open().
    clock: Callable[[], float]
    changed: asyncio.Event  # set when rows become pending
    tail: Tail
    _next_seq: int
    _full: bool

    async def release_held(self) -> int:
        """Turn every held row into a pending one (after the session it guarded ended)."""
        n = await self._update("UPDATE rows SET state=? WHERE state=?", (PENDING, HELD), revives=True)
        if n:
            self.changed.set()
        return n

    async def drop_held(self) -> int:
        """Turn every held row into a tombstone (a birth whose connection never came up):
        its seq is still delivered, as a declared gap, so the backend does not wait for it."""
        n = await self._update(
            "UPDATE rows SET state=?, payload=NULL, dropped=1 WHERE state=?", (PENDING, HELD), revives=True
        )
        if n:
            self.changed.set()
        return n

    async def mark_sent(self, seqs: Iterable[int], *, committed_through: int = 0) -> int:
        """The broker acknowledged these rows (PUBACK). Those at or below
        `committed_through` (the backend's high-water mark: a resend, or a PUBACK that
        came after the backend's ack) are deleted instead; deleting first also frees
        the pages the update needs on a full outbox."""
        acked = sorted(set(seqs))
        if not acked:
            return 0
        now = self.clock()
        done = [s for s in acked if s <= committed_through]
        rest = acked[len(done) :]
        if rest and rest[-1] - rest[0] + 1 == len(rest):
            # PUBACKs come in order, so a burst is usually one unbroken run of seqs:
            # one ranged UPDATE instead of one per row. Only when unbroken, or a row
            # held back in between (oversize) would be marked too.
            sql = _MARK_SENT + "seq BETWEEN ? AND ?"
            params: list[tuple[Any, ...]] = [(SENT, now, rest[0], rest[-1])]
        else:
            sql = _MARK_SENT + "seq=?"
            params = [(SENT, now, s) for s in rest]

        def op(con: sqlite3.Connection) -> int:
            n = 0
            if done:
                con.execute("UPDATE meta SET value=? WHERE key='next_seq'", (str(self._next_seq),))
                gone = [(s, PENDING) for s in done]
                n += con.executemany("DELETE FROM rows WHERE seq=? AND state=?", gone).rowcount
            if params:
                n += con.executemany(sql, params).rowcount
            self._after_commit(functools.partial(self.tail.discard, acked))
            return int(n)

        n: int = await self._submit(op)
        if done:
            self._full = False
        return n

    async def delete_through(self, seq: int) -> int:
        """The backend committed everything up to `seq`: the rows the broker took
        (SENT) go. A row that was never PUBACKed is kept whatever an ack says: only a
        row the broker took can have reached the backend (issue 10: a forged ack
        deleted 23 rows that never left the Pi). The link deletes such rows once their
        PUBACK arrives (`Link._ack_writer`)."""

        def op(con: sqlite3.Connection) -> int:
            return self._delete(con, "seq<=? AND state=?", (seq, SENT))

        n: int = await self._submit(op)
        if n:
            self._full = False
        return n

    async def delete_acked_before(self, age_s: float) -> int:
        """Retention mode: delete rows the broker acked more than `age_s` ago."""
        cutoff = self.clock() - age_s
        n: int = await self._submit(lambda con: self._delete(con, "state=? AND acked_at<=?", (SENT, cutoff)))
        if n:
            self._full = False
        return n

    def _delete(self, con: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> int:
        # The newest row may go: keep the next seq where the open() can find it.
        con.execute("UPDATE meta SET value=? WHERE key='next_seq'", (str(self._next_seq),))
        return int(con.execute("DELETE FROM rows WHERE " + where, params).rowcount)

    async def requeue(self, from_seq: int = 0) -> int:
        """Make broker-acked rows with seq >= from_seq pending again (resend / replay)."""
        n = await self._update(
            "UPDATE rows SET state=? WHERE state=? AND seq>=?", (PENDING, SENT, from_seq), revives=True
        )
        self.changed.set()
        return n

    async def requeue_stale(self, age_s: float) -> int | None:
        """Make rows the broker acked more than `age_s` ago pending again (the backend
        never confirmed them); return the lowest such seq, or None."""
        cutoff = self.clock() - age_s

        def op(con: sqlite3.Connection) -> int | None:
            (low,) = con.execute(
                "SELECT MIN(seq) FROM rows WHERE state=? AND acked_at<=?", (SENT, cutoff)
            ).fetchone()
            con.execute("UPDATE rows SET state=? WHERE state=? AND acked_at<=?", (PENDING, SENT, cutoff))
            if low is not None:
                self._invalidate_tail()
            return None if low is None else int(low)

        low: int | None = await self._submit(op)
        if low is not None:
            self.changed.set()
        return low

    async def _update(self, sql: str, params: tuple[Any, ...], *, revives: bool = False) -> int:
        """One statement; `revives` when it can make rows pending that were not."""

        def op(con: sqlite3.Connection) -> int:
            n = int(con.execute(sql, params).rowcount)
            if revives and n:
                self._invalidate_tail()
            return n

        n: int = await self._submit(op)
        return n

    def _invalidate_tail(self) -> None:
        self._after_commit(lambda: self.tail.invalidate(self._next_seq - 1))
