"""A circuit breaker of our own (docs/facts.md: no maintained asyncio breaker does all of this).

CLOSED: calls pass; `failure_threshold` consecutive failures open it.
OPEN: calls fail fast with BreakerOpenError until `open_timeout_s` has passed.
HALF_OPEN: exactly ONE probe call at a time is let through; others fail fast.
  `success_threshold` successful probes close it; a failed probe re-opens it.

Only errors whose `counts_as_failure` is true count (4xx other than 429 proves the
service is up). Listeners hear every state change (metrics, alerts); `persist` (async)
stores the state so a restart during an outage does not hammer the service again.
The clock is injected: wall time by default because the opened-at instant is persisted.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from agent.enrich.errors import BreakerOpenError, RemoteError

__all__ = ["BreakerSnapshot", "BreakerState", "CircuitBreaker", "Listener"]

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class BreakerSnapshot:
    name: str
    state: BreakerState
    failures: int
    opened_at: float


Listener = Callable[[str, BreakerState, BreakerState], None]
Persist = Callable[[BreakerSnapshot], Awaitable[None]]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        open_timeout_s: float = 30.0,
        success_threshold: int = 1,
        clock: Callable[[], float] = time.time,
        persist: Persist | None = None,
        restored: BreakerSnapshot | None = None,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_timeout_s = open_timeout_s
        self.success_threshold = success_threshold
        self._clock = clock
        self._persist = persist
        self._listeners: list[Listener] = []
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probing = False
        if restored is not None:
            # A half-open breaker that died mid-probe restarts OPEN: its probe's fate is unknown.
            self._state = BreakerState.OPEN if restored.state != BreakerState.CLOSED else BreakerState.CLOSED
            self._failures = restored.failures
            self._opened_at = restored.opened_at

    @property
    def state(self) -> BreakerState:
        return self._state

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(self.name, self._state, self._failures, self._opened_at)

    def retry_in(self) -> float:
        """Seconds until the next probe may run (0 when calls pass)."""
        if self._state != BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_timeout_s - self._clock())

    def allows_call(self) -> bool:
        """Would a call be let through now? (For schedulers deciding to wait; takes no slot.)"""
        if self._state == BreakerState.CLOSED:
            return True
        if self._state == BreakerState.HALF_OPEN:
            return not self._probing
        return self.retry_in() <= 0

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        probe = await self._admit()
        try:
            result = await fn()
        except RemoteError as exc:
            if exc.counts_as_failure:
                await self._on_failure(probe)
            else:
                await self._on_success(probe)
            raise
        except BaseException:
            # Cancellation or a bug of ours says nothing about the remote: free the slot.
            if probe:
                self._probing = False
            raise
        await self._on_success(probe)
        return result

    async def _admit(self) -> bool:
        """Let a call through (True when it is the half-open probe) or raise BreakerOpenError."""
        if self._state == BreakerState.OPEN:
            if self.retry_in() > 0:
                raise BreakerOpenError(self.name, self.retry_in())
            await self._transition(BreakerState.HALF_OPEN)
        if self._state == BreakerState.HALF_OPEN:
            if self._probing:
                raise BreakerOpenError(self.name, 0.0)
            self._probing = True
            return True
        return False

    async def _on_success(self, probe: bool) -> None:
        if probe:
            self._probing = False
            self._successes += 1
            if self._successes >= self.success_threshold:
                await self._transition(BreakerState.CLOSED)
        elif self._state == BreakerState.CLOSED and self._failures:
            self._failures = 0

    async def _on_failure(self, probe: bool) -> None:
        if probe:
            self._probing = False
            await self._transition(BreakerState.OPEN)
            return
        if self._state != BreakerState.CLOSED:
            return  # a call admitted before the breaker opened: already accounted for
        self._failures += 1
        if self._failures >= self.failure_threshold:
            await self._transition(BreakerState.OPEN)

    async def _transition(self, new: BreakerState) -> None:
        old = self._state
        if old == new:
            return
        self._state = new
        if new == BreakerState.OPEN:
            self._opened_at = self._clock()
            self._successes = 0
        elif new == BreakerState.CLOSED:
            self._failures = 0
            self._successes = 0
        elif new == BreakerState.HALF_OPEN:
            self._successes = 0
        for listener in self._listeners:
            listener(self.name, old, new)
        if self._persist is not None:
            await self._persist(self.snapshot())
