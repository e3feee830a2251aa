"""Telemetry under outbox pressure: the one stream that may be sampled down (docs/design.md).

`OutboxPressure` watches the outbox (pending rows, age of the oldest pending row) and
says when it is under pressure, with hysteresis so it does not flap; `downsample` keeps
the latest sample of each PID in a telemetry batch. A vehicle session asks the pressure
signal before each telemetry record; while it is on, the record carries only those
samples and `sampled_down: true`, and what was left out is counted
(`baygate_telemetry_downsampled_total`). Vehicle reports, scans and everything else
are never sampled.

Why these thresholds: at the defaults (5 Hz x 6 PIDs, one telemetry record a second
per dongle) a healthy link keeps the outbox at a few rows and well under a second
old. 2,000 pending rows is 10 % of the telemetry cap (20,000 rows, after which the
outbox turns the oldest into tombstones) and about half an hour of one dongle's
telemetry; 60 s of age is a link that has not delivered for a minute. Sampling down to
one sample per PID per record (5x fewer at 5 Hz, 10x at 10 Hz) then stretches the
time before anything is dropped by as much. It turns off at half of both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["OutboxPressure", "downsample"]

log = logging.getLogger("baygate.pipelines.pressure")


class _Stats(Protocol):
    @property
    def pending(self) -> int: ...

    @property
    def oldest_pending_age_s(self) -> float | None: ...


class _Outbox(Protocol):
    async def stats(self) -> Any: ...


class OutboxPressure:
    """On when pending >= max_pending or the oldest pending row is >= max_age_s old;
    off again once both are under half of that."""

    def __init__(
        self,
        outbox: _Outbox | None = None,
        *,
        max_pending: int = 2000,
        max_age_s: float = 60.0,
        every_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.outbox = outbox
        self.max_pending = max_pending
        self.max_age_s = max_age_s
        self.every_s = every_s
        self._sleep = sleep
        self.active = False
        self.episodes = 0  # how many times it turned on

    def __call__(self) -> bool:
        return self.active

    def update(self, stats: _Stats) -> bool:
        """Feed one reading of the outbox; returns whether pressure is on (sans-IO)."""
        pending, age = stats.pending, stats.oldest_pending_age_s or 0.0
        if not self.active and (pending >= self.max_pending or age >= self.max_age_s):
            self.active = True
            self.episodes += 1
            log.warning("outbox under pressure (%d pending, oldest %.0f s): sampling telemetry", pending, age)
        elif self.active and pending < self.max_pending / 2 and age < self.max_age_s / 2:
            self.active = False
            log.info("outbox pressure over (%d pending, oldest %.0f s): full telemetry again", pending, age)
        return self.active

    async def run(self) -> None:
        """Read the outbox's stats every `every_s` until cancelled."""
        assert self.outbox is not None
        while True:
            self.update(await self.outbox.stats())
            await self._sleep(self.every_s)


def downsample(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest sample of each PID, in the order the PIDs were last seen."""
    latest: dict[object, dict[str, Any]] = {}
    for sample in batch:
        pid = sample.get("pid")
        latest.pop(pid, None)
        latest[pid] = sample
    return list(latest.values())
