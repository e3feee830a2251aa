"""Live-data polling: which PIDs to ask next, batched, at per-PID rates.

Each PID has a rate from 0.1 to 10 Hz (or None: as fast as the link allows). The
scheduler hands out the most overdue PIDs, up to 6 per request on CAN (J1979 allows
six in one Mode 01 request), and the session appends the expected-response count.
Sans-IO: time is passed in, so rates are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from drivers.obd2.diagnostics import Reading, expected_count, readings_from, request_adaptive
from drivers.obd2.errors import AdapterError, DecodeError, NegativeResponse, OBDError, ProtocolError
from drivers.obd2.pids import PID
from drivers.obd2.session import LinkState, Session

__all__ = ["MAX_HZ", "MIN_HZ", "PidScheduler", "Sample", "poll"]

MIN_HZ, MAX_HZ = 0.1, 10.0
MAX_BATCH = 6
_NEVER = float("-inf")


@dataclass(frozen=True)
class Sample:
    reading: Reading
    ts: float  # the clock's time when the reply arrived


class PidScheduler:
    def __init__(self, rates: dict[PID, float | None], batch: int = MAX_BATCH) -> None:
        if not rates:
            raise ValueError("no PIDs to schedule")
        for pid, hz in rates.items():
            if hz is not None and not MIN_HZ <= hz <= MAX_HZ:
                raise ValueError(f"{pid.name}: rate {hz} Hz outside {MIN_HZ}-{MAX_HZ} Hz")
        self.rates = dict(rates)
        self.batch = max(1, min(batch, MAX_BATCH))
        self._due: dict[PID, float] = dict.fromkeys(rates, _NEVER)

    def next_batch(self, now: float) -> tuple[list[PID], float]:
        """(PIDs due at `now`, most overdue first) or ([], seconds until one is due)."""
        due = sorted((t, p.code, p) for p, t in self._due.items() if t <= now)
        if not due:
            return [], min(self._due.values()) - now
        return [p for _, _, p in due[: self.batch]], 0.0

    def done(self, pids: list[PID], now: float) -> None:
        """Mark `pids` as read at `now`. The next read is due one period after this one
        was due, so the request's own time does not lower the rate; after a stall the
        schedule restarts from now instead of bursting to catch up."""
        for p in pids:
            if p not in self.rates:
                continue  # dropped meanwhile
            hz = self.rates[p]
            period = 1.0 / hz if hz else 0.0
            due = self._due[p]
            self._due[p] = now + period if due == _NEVER else max(due + period, now - period)

    def drop(self, pid: PID) -> None:
        """Stop asking for a PID the car refuses."""
        self._due.pop(pid, None)
        self.rates.pop(pid, None)


async def poll(
    session: Session,
    scheduler: PidScheduler,
    *,
    clock: Callable[[], float] = time.monotonic,
    errors: list[OBDError] | None = None,
) -> AsyncGenerator[list[Sample], None]:
    """Yield samples batch by batch until the link is lost (LinkLost raised).

    A batch the car answers with NO DATA/7F/garbage is skipped (and recorded in
    `errors` if given); a PID refused alone is dropped. Timeouts are the session's
    health business: after LOST_AFTER of them the next request raises LinkLost.
    """
    if not session.is_can:
        scheduler.batch = 1
    while scheduler.rates:
        batch, wait = scheduler.next_batch(clock())
        if not batch:
            await asyncio.sleep(wait)
            continue
        payload = bytes(p.code for p in batch)
        try:
            count = expected_count(session, batch)
            reply = await request_adaptive(session, 0x01, payload, count, retry_garbled=False)
            readings = readings_from(reply)
        except (AdapterError, ProtocolError, DecodeError, NegativeResponse) as exc:
            if errors is not None:
                errors.append(exc)
            if len(batch) == 1 and isinstance(exc, NegativeResponse):
                scheduler.drop(batch[0])  # refused outright (NO DATA may be transient)
            scheduler.done(batch, clock())
            continue
        except OBDError as exc:
            if session.state is LinkState.LOST:
                raise
            if errors is not None:
                errors.append(exc)
            scheduler.done(batch, clock())
            continue
        now = clock()
        scheduler.done(batch, now)
        yield [Sample(r, now) for r in readings]
