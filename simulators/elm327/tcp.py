"""The simulator over TCP, like a Wi-Fi dongle (they listen on 192.168.0.10:35000)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Unpack

from .link import SimOptions, Simulation

__all__ = ["TcpServer", "serve_tcp"]

READ_SIZE = 4096
log = logging.getLogger("baygate.sim.elm327.tcp")


@dataclass
class TcpServer:
    host: str
    port: int
    simulation: Simulation

    @property
    def url(self) -> str:
        """Our driver's URL form."""
        return f"tcp://{self.host}:{self.port}"

    @property
    def socket_url(self) -> str:
        """pyserial / python-OBD's URL form."""
        return f"socket://{self.host}:{self.port}"


async def _serve_client(sim: Simulation, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    session = sim.session()
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Without TCP_NODELAY, Nagle holds the small "\r>" tail until the client's
        # delayed ACK (~40 ms), which would swamp the modelled link timing.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def receive() -> None:
        while data := await reader.read(READ_SIZE):
            await session.inbox.put(data)

    tasks = [asyncio.create_task(session.serve(write)), asyncio.create_task(receive())]
    try:
        # Either the client hung up (receive ends) or a fault dropped the link (serve ends).
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # The client going away mid-reply is normal for a dongle: nothing to report.
        # Anything else is a simulator bug and must not vanish silently.
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, ConnectionError):
                log.error("elm327 simulator session failed", exc_info=result)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_tcp(
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Unpack[SimOptions],
) -> AsyncIterator[TcpServer]:
    """Serve one simulated dongle; port 0 picks a free port (see `.port`)."""
    sim = Simulation.build(**options)
    sessions: set[asyncio.Task[None]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The session runs in its own task so shutdown can cancel it while asyncio's
        # client-handler task still ends normally (a cancelled handler is logged as an error).
        task = asyncio.create_task(_serve_client(sim, reader, writer))
        sessions.add(task)
        try:
            await asyncio.wait([task])
        finally:
            sessions.discard(task)

    server = await asyncio.start_server(on_client, host, port)
    bound = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield TcpServer(host, bound, sim)
    finally:
        server.close()
        for task in list(sessions):
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
