"""The one backoff policy: capped exponential delay with jitter, reset only after a
connection stayed healthy for a while.

Why the reset rule: a dongle that accepts the connection and drops it 50 ms later
used to reset its loop's backoff on every "successful" connect, so it was retried
~100 times a second (issue 12: 3,982 "link lost" lines in 19 s). A connection
counts as healthy only once it has stayed up for `healthy_after_s`; until then each
end, clean or not, is a failure and the next delay grows.

Sans-IO: the clock and the random source are injected, so loops built on it are
tested without sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffPolicy"]


@dataclass(frozen=True)
class BackoffPolicy:
    """first_s, doubling (`factor`) up to cap_s; `jitter` is the random share of
    each delay (0.5 = 'equal jitter': half fixed, half random, so a fleet of Pis
    that lost the same broker does not come back in lockstep)."""

    first_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    healthy_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.cap_s:
            raise ValueError(f"backoff needs 0 < first_s <= cap_s (got {self.first_s}, {self.cap_s})")
        if self.factor < 1 or not 0 <= self.jitter <= 1 or self.healthy_after_s < 0:
            raise ValueError("backoff needs factor >= 1, 0 <= jitter <= 1, healthy_after_s >= 0")

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """The wait after `failures` consecutive failures (1 = the first)."""
        if failures <= 0:
            return 0.0
        # min() before the power would overflow a float after ~1,000 failures.
        ceiling = min(self.cap_s, self.first_s * self.factor ** min(failures - 1, 64))
        return ceiling * (1 - self.jitter) + rng() * ceiling * self.jitter


class Backoff:
    """One retry loop's state under a policy.

        backoff = Backoff(policy)
        while True:
            try:
                await connect()
                backoff.up()          # connected: the healthy timer starts
                await serve()         # returns or raises when the link ends
            except LinkError:
                pass
            await sleep(backoff.next_delay())
    """

    def __init__(
        self,
        policy: BackoffPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._clock = clock
        self._rng = rng
        self.failures = 0
        self._up_since: float | None = None

    def up(self) -> None:
        """The connection is established; it resets the backoff once it has stayed
        up for `healthy_after_s`."""
        self._up_since = self._clock()

    def healthy(self) -> bool:
        """True while the current connection has stayed up long enough to count."""
        return self._up_since is not None and self._clock() - self._up_since >= self.policy.healthy_after_s

    def next_delay(self) -> float:
        """The connection or attempt ended: how long to wait before the next one."""
        if self.healthy():
            self.failures = 0
        self._up_since = None
        self.failures += 1
        return self.policy.delay(self.failures, self._rng)

    def reset(self) -> None:
        self.failures = 0
        self._up_since = None
