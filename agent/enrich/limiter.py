"""Per-host token-bucket rate limiting with an injected clock and sleep.

A bucket holds up to `burst` tokens and refills at `rate_per_s`. `acquire()` reserves a
token at once (the balance may go negative) and sleeps for the deficit, so concurrent
callers are spaced fairly without a lock around the sleep. NHTSA asks for "automated
traffic rate control"; its servers are sized for 1000-2000 transactions/min for
everyone, so the default for it is 5/s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["HostLimiter", "TokenBucket"]

Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.rate = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self, tokens: float = 1.0) -> float:
        """Take `tokens` now; return how long the caller must wait before using them."""
        self._refill()
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, tokens: float = 1.0) -> float:
        wait = self.reserve(tokens)
        if wait > 0:
            await self._sleep(wait)
        return wait


class HostLimiter:
    """One TokenBucket per host, created on first use with the host's configured rate."""

    def __init__(
        self,
        default_rate_per_s: float,
        rates: dict[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.default_rate = default_rate_per_s
        self.rates = dict(rates or {})
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, host: str) -> TokenBucket:
        b = self._buckets.get(host)
        if b is None:
            rate = self.rates.get(host, self.default_rate)
            b = self._buckets[host] = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
        return b

    async def acquire(self, host: str) -> float:
        return await self.bucket(host).acquire()
