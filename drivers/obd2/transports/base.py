"""The one transport interface: write bytes, read until the `>` prompt with a deadline.

Each transport implements `open`, `close`, `write` and `_read_some`; reading until
the prompt, NUL stripping and the deadline live here, once.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from drivers.obd2.elm327 import PromptBuffer
from drivers.obd2.errors import CommandTimeout

__all__ = ["Transport"]


class Transport(ABC):
    """A byte pipe to an ELM327. Not safe for concurrent commands: the session serialises."""

    description = "transport"

    def __init__(self) -> None:
        self._prompt = PromptBuffer()
        self._ready: list[str] = []

    @abstractmethod
    async def open(self) -> None:
        """Connect. Raises DongleNotFound / ConnectFailed / BadURL."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect; idempotent, never raises."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Send bytes. Raises LinkLost."""

    @abstractmethod
    async def _read_some(self, wait_s: float) -> bytes:
        """Bytes received within `wait_s` s (b"" if none). Raises LinkLost on EOF."""

    @property
    def pending(self) -> str:
        """Text received since the last prompt (a reply whose prompt has not come)."""
        return self._prompt.pending

    async def read_some(self, wait_s: float) -> bytes:
        """Raw bytes as they come (for byte-stream users such as the pyserial handler)."""
        return await self._read_some(wait_s)

    def discard_input(self) -> None:
        """Forget unread replies (after a timeout, a late reply must not answer the next command)."""
        self._prompt.clear()
        self._ready.clear()

    async def read_reply(self, wait_s: float, *, accept_unprompted: float | None = None) -> str:
        """The next reply (text before `>`), within `wait_s` s, else CommandTimeout.

        `accept_unprompted`: for clones that drop the prompt after errors, a reply that
        ends in CR and is followed by that many seconds of silence counts as complete.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        quiet_since: float | None = None
        while not self._ready:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CommandTimeout(f"no '>' prompt within {wait_s:.2f} s")
            wait = remaining if accept_unprompted is None else min(remaining, accept_unprompted)
            data = await self._read_some(wait)
            if data:
                self._ready.extend(self._prompt.feed(data))
                quiet_since = loop.time()
                continue
            pending = self._prompt.pending
            if (
                accept_unprompted is not None
                and quiet_since is not None
                and pending.rstrip(" ").endswith(("\r", "\n"))
                and loop.time() - quiet_since >= accept_unprompted
            ):
                return self._prompt.take_pending()
        reply = self._ready.pop(0)
        if accept_unprompted is not None and not reply.strip() and loop.time() < deadline:
            # A prompt that arrived after we had already taken its reply as unprompted
            # (the adapter was only waiting out ATST): not a reply to this command.
            return await self.read_reply(deadline - loop.time(), accept_unprompted=accept_unprompted)
        return reply
