"""`tcp://host:port`: Wi-Fi ELM327 dongles (usually 192.168.0.10:35000) and the simulator."""

from __future__ import annotations

import asyncio
import contextlib

from drivers.obd2.errors import ConnectFailed, DongleNotFound, LinkLost
from drivers.obd2.transports.base import Transport

__all__ = ["TcpTransport"]


class TcpTransport(Transport):
    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.description = f"tcp://{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except ConnectionRefusedError as exc:
            raise DongleNotFound(f"{self.description}: connection refused") from exc
        except (TimeoutError, OSError) as exc:
            raise ConnectFailed(f"{self.description}: {exc or 'connect timed out'}") from exc
        sock = self._writer.get_extra_info("socket") if self._writer else None
        if sock is not None:
            import socket

            # Small request/reply exchanges: Nagle would add up to 40 ms per command.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()

    async def write(self, data: bytes) -> None:
        if self._writer is None:
            raise LinkLost(f"{self.description}: not connected")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise LinkLost(f"{self.description}: {exc}") from exc

    async def _read_some(self, wait_s: float) -> bytes:
        if self._reader is None:
            raise LinkLost(f"{self.description}: not connected")
        try:
            async with asyncio.timeout(wait_s):
                data = await self._reader.read(4096)
        except TimeoutError:
            return b""
        except (ConnectionError, OSError) as exc:
            raise LinkLost(f"{self.description}: {exc}") from exc
        if not data:
            raise LinkLost(f"{self.description}: connection closed by the dongle")
        return data
