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


@pytest.mark.anyio
async def test_a_failing_check_that_a_restart_cannot_fix_keeps_the_pings() -> None:
    """A full disk fails /health (503) but a restart frees nothing and drops the link
    that receives the acks which do: the watchdog keeps pinging for it."""
    health = HealthRegistry(version="t")
    health.register("disk", lambda: ("fail", "disk critical"), restart_helps=False)
    sent: list[str] = []

    async def once(_: float) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await watchdog(health, 15, send=lambda s: sent.append(s) or True, sleep=once)
    assert health.evaluate()["status"] == "fail" and sent == ["WATCHDOG=1"]
    health.register("outbox", lambda: ("fail", "broken"))
    with pytest.raises(asyncio.CancelledError):
        await watchdog(health, 15, send=lambda s: sent.append(s) or True, sleep=once)
    assert sent[-1] == "STATUS=unhealthy: outbox"
