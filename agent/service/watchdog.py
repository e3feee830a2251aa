"""The systemd watchdog task: ping only while the loop and the health checks progress.

A wedged event loop stops pinging by itself (this coroutine never runs), and a health
state of "fail" (the outbox cannot write, a task died) deliberately stops the pings so
systemd restarts the agent after WatchdogSec (30 s). "warn" — broker unreachable, a
camera unplugged — keeps pinging: a restart would not fix the Wi-Fi. Nor a full disk:
its check fails (/health 503) but is registered `restart_helps=False`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agent.service.health import HealthRegistry
from agent.service.sdnotify import notify

__all__ = ["watchdog"]

log = logging.getLogger("baygate.watchdog")


async def watchdog(
    health: HealthRegistry,
    interval_s: float,
    send: Callable[[str], bool] = notify,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run until cancelled."""
    while True:
        doc = await asyncio.to_thread(health.evaluate)
        failing = [
            n for n, c in doc["checks"].items() if c[0]["status"] == "fail" and n not in health.no_restart
        ]
        if failing:
            log.error("health failing (%s): withholding the watchdog ping", ", ".join(failing))
            send(f"STATUS=unhealthy: {', '.join(failing)}")
        else:
            send("WATCHDOG=1")
        await sleep(interval_s)
