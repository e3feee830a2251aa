from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.enrich.breaker import BreakerState, CircuitBreaker
from agent.enrich.db import StateDB
from agent.enrich.errors import BreakerOpenError, RemoteStatusError, TransportError
from agent.enrich.resilience import Resilience
from tests.support.enrich import FakeClock

pytestmark = pytest.mark.anyio


async def fail() -> None:
    raise TransportError("down")


async def ok() -> str:
    return "ok"


async def test_opens_after_threshold_and_fails_fast(anyio_backend: str) -> None:
    clock = FakeClock()
    br = CircuitBreaker("h", failure_threshold=3, open_timeout_s=10, clock=clock)
    for _ in range(3):
        with pytest.raises(TransportError):
            await br.call(fail)
    assert br.state == BreakerState.OPEN
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "x"

    with pytest.raises(BreakerOpenError):
        await br.call(counted)
    assert calls == 0


async def test_client_errors_do_not_count_but_429_does(anyio_backend: str) -> None:
    br = CircuitBreaker("h", failure_threshold=2, clock=FakeClock())

    async def not_found() -> None:
        raise RemoteStatusError(404, "u")

    async def too_many() -> None:
        raise RemoteStatusError(429, "u")

    for _ in range(5):
        with pytest.raises(RemoteStatusError):
            await br.call(not_found)
    assert br.state == BreakerState.CLOSED
    for _ in range(2):
        with pytest.raises(RemoteStatusError):
            await br.call(too_many)
    assert br.state == BreakerState.OPEN


async def test_half_open_lets_exactly_one_probe_through(anyio_backend: str) -> None:
    clock = FakeClock()
    br = CircuitBreaker("h", failure_threshold=1, open_timeout_s=5, success_threshold=2, clock=clock)
    with pytest.raises(TransportError):
        await br.call(fail)
    clock.advance(5)
    release = asyncio.Event()
    entered = 0

    async def probe() -> str:
        nonlocal entered
        entered += 1
        await release.wait()
        return "probe"

    first = asyncio.create_task(br.call(probe))
    await asyncio.sleep(0)
    assert br.state == BreakerState.HALF_OPEN
    others = await asyncio.gather(*(br.call(probe) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, BreakerOpenError) for o in others)
    release.set()
    assert await first == "probe" and entered == 1
    # success_threshold=2: still half-open after one good probe, closed after the second.
    assert br.state == BreakerState.HALF_OPEN
    await br.call(ok)
    assert br.state == BreakerState.CLOSED


async def test_failed_probe_reopens_with_a_fresh_timeout(anyio_backend: str) -> None:
    clock = FakeClock()
    br = CircuitBreaker("h", failure_threshold=1, open_timeout_s=5, clock=clock)
    with pytest.raises(TransportError):
        await br.call(fail)
    clock.advance(6)
    with pytest.raises(TransportError):
        await br.call(fail)
    assert br.state == BreakerState.OPEN and br.retry_in() == pytest.approx(5)


async def test_listeners_hear_every_transition(anyio_backend: str) -> None:
    clock = FakeClock()
    seen: list[tuple[str, str]] = []
    br = CircuitBreaker("h", failure_threshold=1, open_timeout_s=1, clock=clock)
    br.add_listener(lambda name, old, new: seen.append((old.value, new.value)))
    with pytest.raises(TransportError):
        await br.call(fail)
    clock.advance(1)
    await br.call(ok)
    assert seen == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]


async def test_open_state_survives_a_restart(anyio_backend: str, state_dir: Path) -> None:
    clock = FakeClock()
    db = StateDB(state_dir / "enrich.sqlite")
    res = Resilience(db=db, clock=clock)
    br = await res.breaker("vpic.example")
    br.failure_threshold = 1
    with pytest.raises(TransportError):
        await br.call(fail)
    db.close()
    # A new process: the breaker comes back OPEN with the same deadline.
    db2 = StateDB(state_dir / "enrich.sqlite")
    br2 = await Resilience(db=db2, clock=clock).breaker("vpic.example")
    assert br2.state == BreakerState.OPEN
    with pytest.raises(BreakerOpenError):
        await br2.call(ok)
    clock.advance(31)
    assert await br2.call(ok) == "ok" and br2.state == BreakerState.CLOSED
    db2.close()
