"""The agent side of sync as a process a test can kill -9: outbox + link + a producer.

    python -m tests.support.sync_agent STATE_DIR BROKER_URL [--oversize-every N]
                                       [--reserve-kb KB] [--pace-s S] [--log-dir DIR]

Puts scan records in groups of 10 as fast as the outbox commits them (or every
`--pace-s`), and after each group returns appends the committed seqs to
LOG_DIR/committed.log (LOG_DIR: STATE_DIR unless given; give another filesystem when
the test fills the state dir's) (flushed, so a kill -9 keeps it: the page cache survives the
process); a record over the broker's packet limit every N groups goes to
LOG_DIR/oversize.log the same way. A test then checks that every seq in the logs
reached the backend exactly once. With `--reserve-kb` the outbox has a disk reserve
(sync.disk) and a full disk only pauses the producer. The file LOG_DIR/stop stops
the producer; the link goes on delivering.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from sync.disk import DiskGuard, DiskLimits
from sync.errors import OutboxFullError
from sync.link import Link
from sync.outbox import Outbox
from tests.support.sync import BASE, add_replay, link_settings, render, status_render

OVERSIZE = 100 * 1024  # over the chaos broker's 64 KiB max_packet_size, under the outbox's 256 KiB


async def keep_reserve(guard: DiskGuard) -> None:
    while True:
        await asyncio.to_thread(guard.ensure_reserve)  # a no-op unless space came back
        await asyncio.sleep(1.0)


async def main(  # noqa: PLR0917 - the command line, one to one
    state: Path, url: str, oversize_every: int, reserve_kb: int, pace_s: float, logs: Path
) -> None:
    guard = DiskGuard(state, DiskLimits(0, 0, reserve_kb * 1024)) if reserve_kb else None
    if guard is not None:
        await asyncio.to_thread(guard.ensure_reserve)
    on_full = guard.release if guard is not None else None
    async with Outbox(state / "outbox.sqlite3", on_full=on_full) as ob:
        link = Link(ob, link_settings(url), status=status_render)
        add_replay(link)
        task = asyncio.create_task(link.run())
        keeper = asyncio.create_task(keep_reserve(guard)) if guard is not None else None
        groups = 0
        with (logs / "committed.log").open("a") as log, (logs / "oversize.log").open("a") as big:
            while not task.done():
                if await asyncio.to_thread((logs / "stop").exists):
                    await asyncio.sleep(0.1)
                    continue
                groups += 1
                try:
                    if oversize_every and groups % oversize_every == 0:
                        seq = await ob.put("scan", BASE + "/scan", render("scan", {"pad": "x" * OVERSIZE}))
                        big.write(f"{seq}\n")
                        big.flush()
                    results = await asyncio.gather(
                        *(ob.put("scan", BASE + "/scan", render("scan")) for _ in range(10)),
                        return_exceptions=True,
                    )
                except OutboxFullError:
                    results = []
                for r in results:
                    if isinstance(r, BaseException) and not isinstance(r, OutboxFullError):
                        raise r
                log.write("".join(f"{s}\n" for s in results if isinstance(s, int)))
                log.flush()
                if len(results) < 10 or any(isinstance(r, BaseException) for r in results):
                    await asyncio.sleep(0.2)  # the disk is full: wait for acks or space
                await asyncio.sleep(pace_s)
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await task


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("state", type=Path)
    p.add_argument("url")
    p.add_argument("--oversize-every", type=int, default=0)
    p.add_argument("--reserve-kb", type=int, default=0)
    p.add_argument("--pace-s", type=float, default=0.005)
    p.add_argument("--log-dir", type=Path, default=None)
    a = p.parse_args()
    a.state.mkdir(parents=True, exist_ok=True)
    logs = a.log_dir or a.state
    logs.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(a.state, a.url, a.oversize_every, a.reserve_kb, a.pace_s, logs))
