"""The ingest's gap tracking and replay requests, bounded and expiring (sans-IO).

A stream whose highest seq stays above its high-water mark for `grace_s` has a gap;
the ingest asks the agent to replay from hw+1. Unbounded, 5,000 fake streams with gaps
made it send ~967 replay commands/s forever (issue 10). Now:
- at most `max_gaps` gaps are tracked (new ones beyond are counted, not tracked);
- each gap's requests back off with the one policy (resilience.BackoffPolicy), from
  `first_s` up to `cap_s`, and start over only when the gap's hw moves;
- a gap that has not moved for `expire_s` is given up (the agent still resends on its
  own ack timeout; the gap shows in `baygate backend --stats`);
- all gaps together get at most `rate_per_s` requests a second (a token bucket).
With authenticated records (sync/auth.py) a forger cannot create a stream at all;
these bounds hold even without keys.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from resilience import Backoff, BackoffPolicy

__all__ = ["GapTracker", "ReplayRequest"]

GapKey = tuple[str, str, str]  # shop, agent, epoch


@dataclass(frozen=True)
class ReplayRequest:
    shop: str
    agent: str
    epoch: str
    from_seq: int


@dataclass
class _Gap:
    hw: int
    since: float  # when the gap was seen at this hw
    backoff: Backoff
    next_at: float = field(default=0.0)


class GapTracker:
    def __init__(
        self,
        *,
        grace_s: float = 2.0,
        policy: BackoffPolicy | None = None,
        max_gaps: int = 1000,
        expire_s: float = 3600.0,
        rate_per_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.grace_s = grace_s
        self.policy = policy or BackoffPolicy(first_s=5.0, cap_s=300.0)
        self.max_gaps = max_gaps
        self.expire_s = expire_s
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._rng = rng
        self._gaps: dict[GapKey, _Gap] = {}
        self._tokens = rate_per_s
        self._filled_at = clock()
        self.untracked = 0  # gaps seen while max_gaps were tracked
        self.expired = 0
        self.throttled = 0  # requests put off by the rate limit

    def __len__(self) -> int:
        return len(self._gaps)

    def update(self, shop: str, agent: str, epoch: str, hw: int, max_seq: int) -> None:
        """A stream's state after a batch."""
        key = (shop, agent, epoch)
        gap = self._gaps.get(key)
        if max_seq <= hw:
            self._gaps.pop(key, None)
            return
        now = self._clock()
        if gap is not None and gap.hw == hw:
            return
        if gap is None and len(self._gaps) >= self.max_gaps:
            self.untracked += 1
            return
        backoff = Backoff(self.policy, clock=self._clock, rng=self._rng)
        self._gaps[key] = _Gap(hw, now, backoff, now + self.grace_s)

    def due(self) -> list[ReplayRequest]:
        """The replay requests to send now (within the rate limit)."""
        now = self._clock()
        self._tokens = min(self.rate_per_s, self._tokens + (now - self._filled_at) * self.rate_per_s)
        self._filled_at = now
        out: list[ReplayRequest] = []
        for key, gap in list(self._gaps.items()):
            if now - gap.since >= self.expire_s:
                del self._gaps[key]
                self.expired += 1
                continue
            if now < gap.next_at:
                continue
            if self._tokens < 1:
                self.throttled += 1
                continue
            self._tokens -= 1
            gap.next_at = now + gap.backoff.next_delay()
            out.append(ReplayRequest(*key, gap.hw + 1))
        return out
