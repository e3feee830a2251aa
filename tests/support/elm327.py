"""Helpers for talking to the ELM327 simulator with raw bytes (no driver of ours)."""

from __future__ import annotations

import asyncio
import contextlib

REPLY_DEADLINE_S = 5.0


class RawClient:
    """A minimal ELM327 client over a socket: send a line, read until the '>' prompt."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ask(self, command: str) -> bytes:
        """Send `command` + CR; the raw reply bytes including the prompt."""
        await self.send(command.encode() + b"\r")
        async with asyncio.timeout(REPLY_DEADLINE_S):
            return await self.reader.readuntil(b">")

    async def lines(self, command: str) -> list[str]:
        """The non-empty reply lines, echo and prompt excluded."""
        return reply_lines(await self.ask(command), command)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def reply_lines(raw: bytes, command: str = "") -> list[str]:
    text = raw.decode("ascii", "replace").rstrip(">")
    return [ln.strip() for ln in text.split("\r") if ln.strip() and ln.strip() != command]


class FakeClock:
    """Injected time: `sleep` advances `now` instantly, so timing is asserted, not waited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def instant() -> dict[str, object]:
    """serve_* keyword arguments for a fake clock: the timing model costs no wall time."""
    clock = FakeClock()
    return {"clock": clock, "sleep": clock.sleep}
