"""Bounding the replay command, the one remote command that amplifies (sans-IO).

A replay makes the link send held rows again. Unbounded, 50 replay commands resent
~4,100 rows from a 157-row outbox (issue 10). The gate allows one replay per
`window_s`; requests inside the window coalesce into one that starts at the lowest
seq asked for and runs when the window ends. So within any window the link resends at
most what the outbox holds, whoever asks and however often.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ReplayDecision", "ReplayGate"]


@dataclass(frozen=True)
class ReplayDecision:
    run_now: bool  # replay from `from_seq` now
    from_seq: int
    wait_s: float  # when coalesced: the pending replay runs in this long


class ReplayGate:
    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._last: float | None = None
        self._pending: int | None = None  # lowest from_seq asked for inside the window
        self.coalesced = 0

    def request(self, from_seq: int) -> ReplayDecision:
        now = self._clock()
        if self._last is None or now - self._last >= self.window_s:
            self._last = now
            return ReplayDecision(True, from_seq, 0.0)
        self.coalesced += 1
        self._pending = from_seq if self._pending is None else min(self._pending, from_seq)
        return ReplayDecision(False, self._pending, self._last + self.window_s - now)

    def due(self) -> int | None:
        """The coalesced replay to run now (the window ended), or None."""
        if self._pending is None or self._last is None or self._clock() - self._last < self.window_s:
            return None
        from_seq, self._pending, self._last = self._pending, None, self._clock()
        return from_seq
