"""The agent side of sync as a process a test can kill -9: outbox + link + a producer.

    python -m tests.support.sync_agent STATE_DIR BROKER_URL

Puts scan records in groups of 10 as fast as the outbox commits them, and after each
group returns appends the committed seqs to STATE_DIR/committed.log (flushed, so a
kill -9 keeps it: the page cache survives the process). A test then checks that every
seq in the log reached the backend exactly once.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sync.link import Link
from sync.outbox import Outbox
from tests.support.sync import BASE, add_replay, link_settings, render, status_render


async def main(state: Path, url: str) -> None:
    async with Outbox(state / "outbox.sqlite3") as ob:
        link = Link(ob, link_settings(url), status=status_render)
        add_replay(link)
        task = asyncio.create_task(link.run())
        with (state / "committed.log").open("a") as log:
            while not task.done():
                seqs = await asyncio.gather(
                    *(ob.put("scan", BASE + "/scan", render("scan")) for _ in range(10))
                )
                log.write("".join(f"{s}\n" for s in seqs))
                log.flush()
                await asyncio.sleep(0.005)
        await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
