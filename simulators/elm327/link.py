"""What every transport shares: one adapter + one fault shaper per connection, and the
playback of timed chunks through an injected sleep (so tests can run on a fake clock).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .engine import DEFAULT_VERSION, Elm327
from .faults import Close, FaultSet, parse_faults
from .profile import Profile, load_profile
from .timing import Timing

__all__ = ["Session", "Simulation", "Sleep"]

Sleep = Callable[[float], Awaitable[None]]
Write = Callable[[bytes], Awaitable[None]]


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
    connections: int = 0

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
        version: str = DEFAULT_VERSION,
    ) -> Simulation:
        prof = load_profile(profile) if isinstance(profile, str) else copy.deepcopy(profile)
        if timing is None:
            timing = Timing(rtt_ms=rtt_ms, ecu_ms=ecu_ms)
        return cls(prof, timing, parse_faults(faults), clock, sleep, seed, version)

    def session(self) -> Session:
        self.connections += 1
        engine = Elm327(self.profile, self.timing, self.faults.quirks(), self.clock, self.version)
        return Session(engine, self.faults, self.seed + self.connections, self.sleep)


class Session:
    """One connection: feed bytes in, play the (fault-shaped) reply out."""

    def __init__(self, engine: Elm327, faults: FaultSet, seed: int, sleep: Sleep) -> None:
        self.engine = engine
        self.shaper = faults.shaper(seed)
        self.sleep = sleep
        self.closed = False

    async def handle(self, data: bytes, write: Write) -> bool:
        """Answer every command completed by `data`; False once a fault closed the link."""
        for reply in self.engine.feed(data):
            for action in self.shaper.shape(reply):
                if isinstance(action, Close):
                    self.closed = True
                    return False
                if action.delay_s > 0:
                    await self.sleep(action.delay_s)
                await write(action.data)
        return not self.closed
