"""The outbox's in-memory tail: rows just committed, handed to the sender without
reading them back from SQLite.

When the link keeps up with producers, every row it sends was committed a moment
ago. Reading it back cost ~9 us of Python per row in the reader thread plus a
2-3 ms wait per 500-row read during which nothing was published (measured: 1.1 s of
a 3.5 s, 50k-row run). So each commit also appends its new pending rows here, and
the sender takes them from memory while it is caught up.

The one invariant: the pending rows with seq > `floor` are exactly the rows in the
tail, in seq order. A reader whose cursor is at or above the floor may take rows
from the tail; a reader below it (after a reconnect, a rewind, a replay) reads SQLite
until it catches up. Every change to the pending set other than "new rows committed"
keeps the invariant by trimming the tail or, when in doubt, by `invalidate`: empty
tail, floor at the last seq handed out, so everything older is read from SQLite.

Sans-IO and single-threaded: the outbox applies changes in the event loop thread,
after the transaction that made them committed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from sync.outbox_schema import Row

__all__ = ["Tail"]


class Tail:
    def __init__(self, floor: int = 0, limit: int = 5000) -> None:
        self.floor = floor
        self.limit = limit  # ~250 B a row: a lagging sender costs at most ~1.3 MB
        self._rows: deque[Row] = deque()

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def append(self, row: Row) -> None:
        """A pending row was committed (seqs arrive in increasing order)."""
        if len(self._rows) >= self.limit:
            # The sender is far behind and reads SQLite anyway; stop holding memory.
            self.invalidate(row.seq)
            return
        self._rows.append(row)

    def extend(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.append(row)

    def take(self, after: int, limit: int) -> list[Row] | None:
        """Up to `limit` pending rows with seq > `after`, oldest first, or None when
        the tail cannot say (`after` is below the floor: read SQLite)."""
        if after < self.floor:
            return None
        rows = self._rows
        while rows and rows[0].seq <= after:
            rows.popleft()  # the reader already has these (it read past the floor)
        self.floor = after
        out = [rows.popleft() for _ in range(min(limit, len(rows)))]
        if out:
            self.floor = out[-1].seq
        return out

    def discard(self, seqs: Iterable[int]) -> None:
        """These rows stopped being pending (broker-acked)."""
        gone = {s for s in seqs if s > self.floor}
        if gone:
            self._rows = deque(r for r in self._rows if r.seq not in gone)

    def trim_through(self, seq: int) -> None:
        """Rows up to `seq` were deleted (the backend committed them)."""
        while self._rows and self._rows[0].seq <= seq:
            self._rows.popleft()

    def invalidate(self, last_seq: int) -> None:
        """The pending set changed in a way the tail does not track (rows made pending
        again, births released, telemetry turned into tombstones)."""
        self._rows.clear()
        self.floor = max(self.floor, last_seq)
