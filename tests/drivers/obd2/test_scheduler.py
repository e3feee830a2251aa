"""PID scheduler: batching and per-PID rates, with time passed in (no sleeping)."""

from __future__ import annotations

import pytest

from drivers.obd2.pids import BY_NAME
from drivers.obd2.scheduler import PidScheduler

RPM, SPEED, COOLANT, LOAD = (BY_NAME[n] for n in ("RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD"))


def _simulate(s: PidScheduler, seconds: float, request_s: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    now = 0.0
    for _ in range(100_000):
        if now >= seconds:
            break
        batch, wait = s.next_batch(now)
        if not batch:
            now += wait
            continue
        now += request_s
        s.done(batch, now)
        for p in batch:
            counts[p.name] = counts.get(p.name, 0) + 1
    return counts


def test_rates_are_honoured() -> None:
    s = PidScheduler({RPM: 10.0, SPEED: 1.0, COOLANT: 0.1})
    counts = _simulate(s, 100.0, 0.045)
    assert 900 <= counts["RPM"] <= 1000
    assert 95 <= counts["SPEED"] <= 101
    assert 9 <= counts["COOLANT_TEMP"] <= 11


def test_unthrottled_pids_batch_six_at_a_time() -> None:
    pids = [
        BY_NAME[n]
        for n in ("RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS", "MAF", "FUEL_LEVEL")
    ]
    s = PidScheduler(dict.fromkeys(pids, None))
    first, _ = s.next_batch(0.0)
    assert len(first) == 6
    s.done(first, 0.01)
    second, _ = s.next_batch(0.01)
    assert second[0].name == "FUEL_LEVEL"  # the one left waiting goes first


def test_rate_limits_validated() -> None:
    with pytest.raises(ValueError):
        PidScheduler({RPM: 20.0})
    with pytest.raises(ValueError):
        PidScheduler({RPM: 0.05})
    with pytest.raises(ValueError):
        PidScheduler({})


def test_nothing_due_reports_the_wait() -> None:
    s = PidScheduler({RPM: 2.0})
    batch, _ = s.next_batch(0.0)
    s.done(batch, 0.0)
    assert s.next_batch(0.1) == ([], pytest.approx(0.4))
