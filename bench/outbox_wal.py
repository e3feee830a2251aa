"""What the outbox's small WAL costs: commit throughput with a checkpoint every 256
pages and the WAL cut back to 2 MiB after one (ours: a checkpoint must fit in the disk
reserve, docs/reliability.md) against SQLite's defaults (1,000 pages, never cut back),
in the same run, interleaved.

    .venv/bin/python -m bench.outbox_wal [--n N] [--rounds R] [--dir DIR]

Each round: a fresh outbox, N x ~250-byte records put by 100 concurrent producers
(group commit), then every row deleted through the last seq (as the backend's ack
does); records/s for the puts and for the whole round. Medians over R rounds. The
last line is one JSON object with the figures and `ratio` = ours / default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import sync.outbox_schema as schema
from sync.outbox import Outbox

OURS = schema.WAL_PAGES


def render(seq: int, epoch: str) -> bytes:
    return json.dumps({"v": 1, "id": f"a:{epoch}:{seq}", "seq": seq, "pad": "x" * 150}).encode()


async def one_round(path: Path, n: int, wal_pages: int) -> tuple[float, float]:
    # the knobs under test: ours, or SQLite's defaults (1,000 pages, WAL never cut back)
    schema.WAL_PAGES = wal_pages
    schema.WAL_LIMIT = 2 << 20 if wal_pages == OURS else -1
    async with Outbox(path) as ob:
        start = time.perf_counter()

        async def producer(k: int) -> None:
            for _ in range(k):
                await ob.put("scan", "t/scan", render)

        await asyncio.gather(*(producer(n // 100) for _ in range(100)))
        puts = time.perf_counter() - start
        await ob.delete_through(ob.last_seq)
        total = time.perf_counter() - start
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    return n / puts, n / total


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where the outbox lives (default: a temp dir)")
    a = ap.parse_args()
    base = a.dir or Path(tempfile.mkdtemp(prefix="bench-wal-"))
    results: dict[int, list[tuple[float, float]]] = {256: [], 1000: []}
    for r in range(a.rounds):
        for pages in (256, 1000) if r % 2 == 0 else (1000, 256):
            results[pages].append(await one_round(base / f"o{pages}.sqlite3", a.n, pages))
    med: dict[int, tuple[float, float]] = {}
    for k, v in results.items():
        med[k] = (statistics.median(p for p, _ in v), statistics.median(t for _, t in v))
    for k, (puts, total) in med.items():
        print(f"wal_autocheckpoint={k:5d}: puts {puts:8.0f} rec/s, puts+delete {total:8.0f} rec/s")
    print(json.dumps({
        "n": a.n, "rounds": a.rounds,
        "ours_puts_per_s": round(med[256][0]), "default_puts_per_s": round(med[1000][0]),
        "ratio": round(med[256][0] / med[1000][0], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
