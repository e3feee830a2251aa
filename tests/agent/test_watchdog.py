"""The watchdog pings while healthy and withholds pings while failing."""

from __future__ import annotations

import asyncio

import pytest

from agent.service.health import HealthRegistry
from agent.service.watchdog import watchdog


@pytest.mark.anyio
async def test_pings_follow_health() -> None:
    state = {"s": "pass"}
    health = HealthRegistry(version="t")
    health.register("outbox", lambda: (state["s"], "x"))  # type: ignore[arg-type,return-value]
    sent: list[str] = []
    ticks = 0

    async def fake_sleep(_: float) -> None:
        nonlocal ticks
        ticks += 1
        state["s"] = ["warn", "fail", "pass", "pass"][min(ticks - 1, 3)]
        if ticks >= 4:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await watchdog(health, 15, send=lambda s: sent.append(s) or True, sleep=fake_sleep)
    assert sent == ["WATCHDOG=1", "WATCHDOG=1", "STATUS=unhealthy: outbox", "WATCHDOG=1"]
