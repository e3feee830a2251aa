from __future__ import annotations

import pytest

from agent.enrich.errors import AuthError, RemoteStatusError, TransportError
from agent.enrich.limiter import HostLimiter, TokenBucket
from agent.enrich.resilience import retry_after_of
from agent.enrich.retry import RetryPolicy, call_with_retry
from tests.support.enrich import FakeClock

pytestmark = pytest.mark.anyio


async def test_token_bucket_spaces_calls_at_the_rate(anyio_backend: str) -> None:
    clock = FakeClock()
    bucket = TokenBucket(5.0, burst=2, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(12):
        await bucket.acquire()
    # 2 from the burst, then 10 more at 5/s = 2 s.
    assert clock.now - start == pytest.approx(2.0)


async def test_limiter_keeps_hosts_apart(anyio_backend: str) -> None:
    clock = FakeClock()
    lim = HostLimiter(1.0, {"fast": 100.0}, clock=clock, sleep=clock.sleep)
    await lim.acquire("slow")
    for _ in range(50):
        await lim.acquire("fast")
    assert clock.now - 1_800_000_000.0 < 1.0  # the slow host's bucket did not throttle the fast one


def _flaky(errors: list[Exception]) -> tuple[list[int], object]:
    calls = [0]

    async def fn() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return "done"

    return calls, fn


async def test_retry_after_is_honoured(anyio_backend: str) -> None:
    clock = FakeClock()
    calls, fn = _flaky([RemoteStatusError(503, "u", retry_after=7.0)])
    out = await call_with_retry(fn, RetryPolicy(), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert out == "done" and calls[0] == 2 and clock.sleeps[0] >= 7.0


async def test_backoff_grows_exponentially_with_jitter(anyio_backend: str) -> None:
    clock = FakeClock()
    _, fn = _flaky([TransportError("x") for _ in range(3)])
    policy = RetryPolicy(attempts=4, base_s=1.0, max_backoff_s=100)
    await call_with_retry(fn, policy, clock=clock, sleep=clock.sleep, rng=lambda: 1.0)  # type: ignore[arg-type]
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_no_retry_on_client_errors_but_retry_on_429(anyio_backend: str) -> None:
    clock = FakeClock()
    calls, fn = _flaky([AuthError(401, "u")])
    with pytest.raises(AuthError):
        await call_with_retry(fn, RetryPolicy(), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert calls[0] == 1 and clock.sleeps == []
    calls, fn = _flaky([RemoteStatusError(429, "u", retry_after=1)])
    assert await call_with_retry(fn, RetryPolicy(), clock=clock, sleep=clock.sleep) == "done"  # type: ignore[arg-type]
    assert calls[0] == 2


async def test_deadline_stops_before_a_wait_that_would_cross_it(anyio_backend: str) -> None:
    clock = FakeClock()
    calls, fn = _flaky([RemoteStatusError(503, "u", retry_after=25.0), TransportError("x")])
    with pytest.raises(RemoteStatusError):
        await call_with_retry(fn, RetryPolicy(deadline_s=20), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert calls[0] == 1 and clock.sleeps == []


def test_retry_after_parses_seconds_and_dates() -> None:
    assert retry_after_of("3", 0) == 3.0
    assert retry_after_of("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == pytest.approx(10.0)
    assert retry_after_of("soon", 0) is None and retry_after_of(None, 0) is None
