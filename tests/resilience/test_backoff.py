"""The one backoff policy: growth, cap, jitter bounds, and the healthy-reset rule."""

from __future__ import annotations

import pytest

from resilience import Backoff, BackoffPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    policy = BackoffPolicy(first_s=0.5, cap_s=4.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(0) == 0.0
    assert policy.delay(10_000) == 4.0  # no float overflow after a week of failures


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_equal_jitter_stays_between_half_and_the_whole_ceiling(draw: float) -> None:
    policy = BackoffPolicy(first_s=1.0, cap_s=8.0, jitter=0.5)
    d = policy.delay(3, rng=lambda: draw)
    assert 2.0 <= d < 4.0
    assert d == pytest.approx(2.0 + draw * 2.0)


def test_a_connection_that_drops_at_once_keeps_backing_off() -> None:
    # The issue-12 storm: connect succeeds, drops 50 ms later, again and again.
    clock = Clock()
    b = Backoff(BackoffPolicy(first_s=0.5, cap_s=30.0, jitter=0.0, healthy_after_s=30.0), clock=clock)
    delays = []
    for _ in range(8):
        b.up()
        clock.now += 0.05
        delays.append(b.next_delay())
        clock.now += delays[-1]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_connection_that_stayed_healthy_resets_the_backoff() -> None:
    clock = Clock()
    b = Backoff(BackoffPolicy(first_s=0.5, jitter=0.0, healthy_after_s=30.0), clock=clock)
    for _ in range(5):
        b.next_delay()  # five failed attempts
    assert b.failures == 5
    b.up()
    clock.now += 29.9
    assert not b.healthy()
    clock.now += 0.2
    assert b.healthy()
    assert b.next_delay() == 0.5  # the drop after a healthy spell starts over
    assert b.failures == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_s": 0.0},
        {"first_s": 5.0, "cap_s": 1.0},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"healthy_after_s": -1},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        BackoffPolicy(**kwargs)
