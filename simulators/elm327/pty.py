"""The simulator behind a pseudo-terminal, like a USB serial adapter (/dev/ttyUSB0).

The client opens the printed slave path (`/dev/pts/N`) with pyserial; we serve the
master end. Baud rate is irrelevant on a pty, so any auto-baud probe succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Unpack

from .link import SimOptions, Simulation

__all__ = ["PtyServer", "serve_pty"]

READ_SIZE = 4096
log = logging.getLogger("baygate.sim.elm327.pty")


@dataclass
class PtyServer:
    path: str
    simulation: Simulation

    @property
    def url(self) -> str:
        return f"serial://{self.path}"


async def _pump(master: int, sim: Simulation) -> None:
    """Serve sessions on the master end; a dropped link (fault) starts a new session."""
    loop = asyncio.get_running_loop()
    session = sim.session()

    def readable() -> None:
        try:
            data = os.read(master, READ_SIZE)
        except OSError:
            data = b""  # EIO: no process holds the slave open right now
        if data:
            session.deliver(data)

    async def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(master, view)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            view = view[n:]

    loop.add_reader(master, readable)
    try:
        while True:
            try:
                await session.serve(write)
            except Exception:
                log.exception("elm327 simulator session failed; the adapter resets")
            # A serial line cannot be "closed"; a drop fault resets the adapter instead.
            session = sim.session()
    finally:
        loop.remove_reader(master)


@contextlib.asynccontextmanager
async def serve_pty(
    **options: Unpack[SimOptions],
) -> AsyncIterator[PtyServer]:
    """Open a pty, serve the simulator on it; yields the slave device path."""
    sim = Simulation.build(**options)
    master, slave = os.openpty()
    # Raw mode on the slave: no echo, no CR->LF translation by the line discipline,
    # which would otherwise alter the ELM327's \r line endings.
    tty.setraw(slave)
    os.set_blocking(master, False)
    path = os.ttyname(slave)
    task = asyncio.create_task(_pump(master, sim))
    try:
        yield PtyServer(path, sim)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        os.close(master)
        os.close(slave)
