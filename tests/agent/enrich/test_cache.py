from __future__ import annotations

from pathlib import Path

import pytest

from agent.enrich.cache import Cache
from agent.enrich.db import StateDB
from tests.support.enrich import FakeClock

pytestmark = pytest.mark.anyio


async def test_entries_expire_but_stay_readable_as_stale(anyio_backend: str, state_dir: Path) -> None:
    clock = FakeClock()
    cache = Cache(StateDB(state_dir / "c.sqlite"), 100, clock=clock)
    await cache.put("k", {"a": 1}, ok=True, ttl_s=60)
    e = await cache.get("k")
    assert e is not None and e.fresh(clock()) and e.value == {"a": 1}
    clock.advance(61)
    e = await cache.get("k")
    assert e is not None and not e.fresh(clock())


async def test_cache_survives_restart(anyio_backend: str, state_dir: Path) -> None:
    clock = FakeClock()
    db = StateDB(state_dir / "c.sqlite")
    await Cache(db, 100, clock=clock).put("vpic:X", {"make": "FORD"}, ok=True, ttl_s=3600)
    db.close()
    fresh_process = Cache(StateDB(state_dir / "c.sqlite"), 100, clock=clock)
    assert fresh_process.peek("vpic:X") is None  # nothing in memory...
    e = await fresh_process.get("vpic:X")  # ...but it is on disk
    assert e is not None and e.value == {"make": "FORD"}


async def test_size_cap_evicts_oldest_first(anyio_backend: str, state_dir: Path) -> None:
    clock = FakeClock()
    db = StateDB(state_dir / "c.sqlite")
    cache = Cache(db, 10, clock=clock)
    for i in range(25):
        clock.advance(1)
        await cache.put(f"k{i}", i, ok=True, ttl_s=1000)
    assert await cache.count() == 10
    reopened = Cache(db, 10, clock=clock)
    assert await reopened.get("k0") is None and (await reopened.get("k24")) is not None


async def test_corrupt_row_is_a_miss_not_a_crash(anyio_backend: str, state_dir: Path) -> None:
    db = StateDB(state_dir / "c.sqlite")
    db.run_sync(lambda c: c.execute("INSERT INTO cache VALUES ('bad', '{not json', 1, 0, 9e18)"))
    assert await Cache(db, 10).get("bad") is None


async def test_single_flight_shares_one_call_and_survives_a_cancelled_leader(anyio_backend: str) -> None:
    import asyncio

    from agent.enrich.errors import TransportError
    from agent.enrich.singleflight import SingleFlight

    sf: SingleFlight[int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    leader = asyncio.create_task(sf.do("k", work))
    await asyncio.sleep(0)
    followers = [asyncio.create_task(sf.do("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    assert await leader == 42 and [await f for f in followers] == [42, 42, 42] and calls == 1
    gate.clear()
    leader = asyncio.create_task(sf.do("k", work))
    await asyncio.sleep(0)
    follower = asyncio.create_task(sf.do("k", work))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(TransportError):
        await follower
    assert not follower.cancelled()
