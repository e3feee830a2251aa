"""What every transport shares: one adapter + one fault shaper per connection, and the
playback of timed chunks through an injected sleep (so tests can run on a fake clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypedDict

from .adapters import Personality
from .adapters import adapter as _adapter
from .engine import DEFAULT_VERSION, Elm327
from .faults import Close, FaultSet, Shaper, parse_faults
from .profile import Profile, load_profile
from .timing import Reply, Timing

__all__ = ["Session", "SimOptions", "Simulation", "Sleep"]

Sleep = Callable[[float], Awaitable[None]]
Write = Callable[[bytes], Awaitable[None]]
INBOX = 1024  # chunks of input buffered per connection


class SimOptions(TypedDict, total=False):
    """The keyword options of `Simulation.build`, which every server forwards as is."""

    profile: str | Profile
    rtt_ms: float
    ecu_ms: float
    faults: Iterable[str]
    timing: Timing | None
    clock: Callable[[], float]
    sleep: Sleep
    seed: int
    version: str
    adapter: str | None


@dataclass
class Simulation:
    """Everything configurable about a simulated dongle + car; shared by its connections.

    The profile is copied once: all connections talk to the same car, so codes cleared
    with Mode 04 stay cleared when the client reconnects.
    """

    profile: Profile
    timing: Timing = field(default_factory=Timing)
    faults: FaultSet = field(default_factory=lambda: FaultSet({}))
    clock: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    seed: int = 0
    version: str = DEFAULT_VERSION
    personality: Personality | None = None  # adapters.py; None = a plain v1.5 clone
    connections: int = 0
    started: float | None = None  # the car's time origin, set by the first session

    @classmethod
    def build(
        cls,
        profile: str | Profile = "petrol-can",
        *,
        rtt_ms: float = 0.0,
        ecu_ms: float = 0.0,
        faults: Iterable[str] = (),
        timing: Timing | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        seed: int = 0,
        version: str | None = None,
        adapter: str | None = None,
    ) -> Simulation:
        """`adapter` names a personality (adapters.py); `version` overrides its banner."""
        prof = load_profile(profile) if isinstance(profile, str) else copy.deepcopy(profile)
        if timing is None:
            timing = Timing(rtt_ms=rtt_ms, ecu_ms=ecu_ms)
        personality = _adapter(adapter) if adapter else None
        banner = version or (personality.banner if personality else DEFAULT_VERSION)
        return cls(prof, timing, parse_faults(faults), clock, sleep, seed, banner, personality)

    def session(self) -> Session:
        self.connections += 1
        if self.started is None:
            self.started = self.clock()
        # One car for all connections: its live values keep their time across reconnects.
        p = self.personality
        engine = Elm327(
            self.profile, self.timing, self.faults.quirks(p), self.clock, self.version, started=self.started
        )
        return Session(engine, self.faults.shaper(self.seed + self.connections, p), self.sleep)


class Session:
    """One connection: bytes arrive in `inbox`, replies are played out with their delays.

    Commands are taken one CR at a time, as the ELM327 does. Bytes that arrive while an
    OBD request is still in progress (before its `>` prompt) interrupt it, as on the
    real chip: the adapter prints `STOPPED` and the interrupting command is lost up to
    its CR. The adapter notices at the next pause in its reply (a frame boundary).
    """

    def __init__(self, engine: Elm327, shaper: Shaper, sleep: Sleep) -> None:
        self.engine = engine
        self.shaper = shaper
        self.sleep = sleep
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=INBOX)
        self.closed = False
        self.interruptions = 0
        self._pending = bytearray()
        self._discarding = False

    def deliver(self, data: bytes) -> None:
        """From a callback: queue bytes; an overflowing inbox drops them like a UART."""
        with contextlib.suppress(asyncio.QueueFull):
            self.inbox.put_nowait(data)

    async def serve(self, write: Write) -> None:
        """Answer commands until a fault closes the link (then return)."""
        while not self.closed:
            if b"\r" not in self._pending:
                self._pending += await self.inbox.get()
                self._absorb()
                continue
            cut = self._pending.index(b"\r") + 1
            line = bytes(self._pending[:cut])
            del self._pending[:cut]
            for reply in self.engine.feed(line):
                await self._play(reply, write)

    def _absorb(self) -> None:
        while not self.inbox.empty():
            self._pending += self.inbox.get_nowait()
        if self._discarding and b"\r" in self._pending:
            del self._pending[: self._pending.index(b"\r") + 1]
            self._discarding = False
        elif self._discarding:
            self._pending.clear()

    def _interrupted(self) -> bool:
        self._absorb()
        return bool(self._pending) or self._discarding

    async def _play(self, reply: Reply, write: Write) -> None:
        for action in self.shaper.shape(reply):
            if isinstance(action, Close):
                self.closed = True
                return
            if action.delay_s > 0:
                if reply.obd and self._interrupted():
                    await self._stop(write)
                    return
                await self.sleep(action.delay_s)
                if reply.obd and self._interrupted():
                    await self._stop(write)
                    return
            await write(action.data)

    async def _stop(self, write: Write) -> None:
        self.interruptions += 1
        # The interrupting command is consumed by the interruption, up to its CR.
        if b"\r" in self._pending:
            del self._pending[: self._pending.index(b"\r") + 1]
        else:
            self._pending.clear()
            self._discarding = True
        eol = self.engine.eol.encode()
        await write(b"STOPPED" + eol + eol + b">")
