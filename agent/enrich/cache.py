"""A persistent SQLite cache with TTLs, stale reads and a size cap.

Entries never disappear on expiry: an expired entry is still returned (marked not
fresh) so callers can serve it, marked stale, when the service is down or the breaker
is open. Only the size cap evicts (oldest stored first). A bounded in-memory LRU in
front makes repeated lookups cost no thread hop (measured: bench/enrich.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.enrich.db import StateDB

__all__ = ["Cache", "CacheEntry"]


@dataclass(frozen=True)
class CacheEntry:
    value: Any
    ok: bool
    stored_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


class Cache:
    def __init__(
        self,
        db: StateDB | None,
        max_entries: int = 100_000,
        *,
        memory_entries: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.max_entries = max_entries
        self.memory_entries = min(memory_entries, max_entries)
        self.clock = clock
        self._mem: OrderedDict[str, CacheEntry] = OrderedDict()

    def _remember(self, key: str, entry: CacheEntry) -> None:
        self._mem[key] = entry
        self._mem.move_to_end(key)
        while len(self._mem) > self.memory_entries:
            self._mem.popitem(last=False)

    def peek(self, key: str) -> CacheEntry | None:
        """Memory only: no I/O at all (the hot path for repeated lookups)."""
        entry = self._mem.get(key)
        if entry is not None:
            self._mem.move_to_end(key)
        return entry

    async def get(self, key: str) -> CacheEntry | None:
        return (await self.get_many([key])).get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        out: dict[str, CacheEntry] = {}
        missing = []
        for k in keys:
            e = self.peek(k)
            if e is None:
                missing.append(k)
            else:
                out[k] = e
        if missing and self.db is not None:
            rows = await self.db.run(lambda c: _select(c, missing))
            for key, value, ok, stored, expires in rows:
                try:
                    entry = CacheEntry(json.loads(value), bool(ok), stored, expires)
                except ValueError:
                    continue  # a corrupt row is a miss, never a crash
                out[key] = entry
                self._remember(key, entry)
        return out

    async def put(self, key: str, value: Any, *, ok: bool, ttl_s: float) -> CacheEntry:
        return (await self.put_many([(key, value, ok, ttl_s)]))[0]

    async def put_many(self, items: Iterable[tuple[str, Any, bool, float]]) -> list[CacheEntry]:
        now = self.clock()
        rows = []
        entries = []
        for key, value, ok, ttl in items:
            entry = CacheEntry(value, ok, now, now + ttl)
            entries.append(entry)
            self._remember(key, entry)
            rows.append((key, json.dumps(value, separators=(",", ":")), int(ok), now, now + ttl))
        if rows and self.db is not None:
            await self.db.run(lambda c: _insert(c, rows, self.max_entries))
        return entries

    async def count(self) -> int:
        if self.db is None:
            return len(self._mem)
        n: int = await self.db.run(lambda c: c.execute("SELECT COUNT(*) FROM cache").fetchone()[0])
        return n


def _select(conn: sqlite3.Connection, keys: list[str]) -> list[tuple[str, str, int, float, float]]:
    out: list[tuple[str, str, int, float, float]] = []
    for i in range(0, len(keys), 500):  # SQLite's variable limit
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out.extend(
            conn.execute(
                f"SELECT key, value, ok, stored_at, expires_at FROM cache WHERE key IN ({marks})", chunk
            ).fetchall()
        )
    return out


def _insert(conn: sqlite3.Connection, rows: list[tuple[str, str, int, float, float]], cap: int) -> None:
    conn.executemany("INSERT OR REPLACE INTO cache VALUES (?,?,?,?,?)", rows)
    excess = conn.execute("SELECT COUNT(*) FROM cache").fetchone()[0] - cap
    if excess > 0:
        conn.execute(
            "DELETE FROM cache WHERE key IN (SELECT key FROM cache ORDER BY stored_at LIMIT ?)", (excess,)
        )
