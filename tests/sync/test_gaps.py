"""Gap tracking and replay requests: bounded, backing off, expiring (clock injected)."""

from __future__ import annotations

import itertools

from resilience import BackoffPolicy
from sync.gaps import GapTracker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def tracker(clock: Clock, **kw: object) -> GapTracker:
    base: dict[str, object] = {
        "grace_s": 2.0,
        "policy": BackoffPolicy(first_s=5.0, cap_s=300.0, jitter=0.0),
        "clock": clock,
        "rng": lambda: 0.5,
    }
    return GapTracker(**(base | kw))  # type: ignore[arg-type]


def test_a_gap_is_requested_after_grace_then_backs_off_and_clears() -> None:
    c = Clock()
    g = tracker(c)
    g.update("s", "a", "e", 4, 9)
    assert g.due() == []  # within grace: the missing seq may still be on its way
    c.t += 2.0
    (req,) = g.due()
    assert (req.shop, req.agent, req.epoch, req.from_seq) == ("s", "a", "e", 5)
    times = []
    for _ in range(1500):
        c.t += 1.0
        if g.due():
            times.append(c.t)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:5] == [10.0, 20.0, 40.0, 80.0, 160.0] and max(gaps) == 300.0
    g.update("s", "a", "e", 9, 9)  # filled
    assert len(g) == 0


def test_five_thousand_fake_streams_do_not_make_a_replay_storm() -> None:
    # issue 10: 5,000 fake streams with gaps made the ingest send ~967 replays/s forever
    c = Clock()
    g = tracker(c, max_gaps=1000, rate_per_s=20.0, expire_s=3600.0)
    for i in range(5000):
        g.update("s", f"fake-{i}", "e", 1, 5)
    assert len(g) == 1000 and g.untracked == 4000
    sent = 0
    for _ in range(2 * 3600 * 2):  # two hours in 0.5 s ticks, like the ingest's watch loop
        c.t += 0.5
        sent += len(g.due())
    # at most 20/s while tracked, each gap backing off to once per 300 s, all expired after 1 h
    assert sent <= 20 * 3600
    assert sent <= 1000 * (3600 / 300 + 8)
    assert len(g) == 0 and g.expired == 1000
    c.t += 10
    assert g.due() == []


def test_the_rate_limit_spreads_requests_over_ticks() -> None:
    c = Clock()
    g = tracker(c, rate_per_s=10.0)
    for i in range(100):
        g.update("s", f"a{i}", "e", 0, 3)
    c.t += 2.0
    per_tick = []
    for _ in range(10):
        per_tick.append(len(g.due()))
        c.t += 1.0
    assert max(per_tick) <= 10 and sum(per_tick) == 100
