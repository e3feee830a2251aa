"""Visits: a car's stay in a bay, with its pre-scan, post-scan and their difference.

A visit opens when a dongle in the bay reaches a car (a `vehicle_report`) or a VIN is
scanned there (a `scan` classified `vin`). Its first full report is the pre-scan. It
ends when the technician finishes it (the latest full report after the pre-scan is the
post-scan) or when nothing was heard of the car for `idle_end_s` (state `gone`). A
different VIN in the same bay ends the visit before it and opens a new one.

Every change is kept in the UI store (SQLite) and goes to the backend as a `visit`
record through the agent's sink, like every other reading.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from agent.pipelines.sink import RecordSink
from agent.records import Envelope, ScanRecord, TelemetryRecord, VehicleReportRecord, VisitScan, utcnow
from agent.ui.diff import codes_of, history_change, scan_diff, scan_from_report
from agent.ui.errors import VisitStateError
from agent.ui.store import UiStore, Visit

__all__ = ["DISTANCE_PID", "VisitBook"]

log = logging.getLogger("baygate.ui.visits")

# PID 0x31, as drivers/obd2/pids.py names it: the car's own "since codes cleared" odometer.
DISTANCE_PID = "DISTANCE_SINCE_DTC_CLEAR"


class VisitBook:
    """The open visit of every bay and the decisions that change it."""

    def __init__(
        self,
        store: UiStore,
        sink: RecordSink,
        *,
        idle_end_s: float = 900.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.sink = sink
        self.idle_end = timedelta(seconds=idle_end_s)
        self.clock = clock
        self.open: dict[str, Visit] = {}  # bay -> its open visit

    async def load(self) -> None:
        """Reopen what was open before a restart."""
        for v in await self.store.open_visits():
            self.open[v.bay] = v

    # -- intake --------------------------------------------------------------------------

    async def on_record(self, bay: str, rec: Envelope) -> Visit | None:
        """Apply one committed record of `bay`; returns the visit it changed, if any."""
        if isinstance(rec, VehicleReportRecord):
            return await self._on_report(bay, rec)
        if isinstance(rec, ScanRecord) and rec.vin is not None and rec.vin.verified:
            return await self._on_vin_scan(bay, rec)
        if isinstance(rec, TelemetryRecord):
            return await self._on_telemetry(bay, rec)
        return None

    async def _on_report(self, bay: str, rec: VehicleReportRecord) -> Visit:
        cur = self.open.get(bay)
        if cur is not None and not _same_car(cur.vin, rec.vin if rec.vin_valid else None):
            await self._end(cur, "gone", rec.ts)
            cur = None
        if cur is None:
            cur = self._new(bay, rec.vin if rec.vin_valid else None, "dongle", rec.ts)
        scan = scan_from_report(rec, cur.distance_since_clear_km)
        cur.vin = cur.vin or (rec.vin if rec.vin_valid else None)
        cur.last_seen = max(cur.last_seen, rec.ts)
        if cur.pre is None:
            cur.pre = scan
        else:
            cur.latest = scan
        await self._save(cur, emit=True)
        return cur

    async def _on_vin_scan(self, bay: str, rec: ScanRecord) -> Visit:
        assert rec.vin is not None
        cur = self.open.get(bay)
        if cur is not None and not _same_car(cur.vin, rec.vin.value):
            await self._end(cur, "gone", rec.ts)
            cur = None
        if cur is None:
            cur = self._new(bay, rec.vin.value, "scan", rec.ts)
            await self._save(cur, emit=True)
            return cur
        changed = cur.vin is None
        cur.vin = rec.vin.value
        cur.last_seen = max(cur.last_seen, rec.ts)
        await self._save(cur, emit=changed)
        return cur

    async def _on_telemetry(self, bay: str, rec: TelemetryRecord) -> Visit | None:
        cur = self.open.get(bay)
        if cur is None or not _same_car(cur.vin, rec.vin):
            return None
        cur.last_seen = max(cur.last_seen, rec.ts)
        for s in rec.samples:
            if s.pid == DISTANCE_PID and isinstance(s.value, int | float) and not isinstance(s.value, bool):
                cur.distance_since_clear_km = float(s.value)
        # Kept in memory; written when the visit next changes (1 Hz writes would wear an SD card).
        return None

    # -- ending ----------------------------------------------------------------------------

    async def finish(self, visit_id: str, technician: str | None = None) -> Visit:
        """The technician's "finish": the latest full scan after the pre-scan is the post-scan."""
        cur = next((v for v in self.open.values() if v.visit == visit_id), None)
        if cur is None:
            stored = await self.store.visit(visit_id)  # NotFoundError when there is none
            raise VisitStateError(f"visit {visit_id} is already {stored.state}")
        cur.technician = technician or cur.technician
        await self._end(cur, "finished", self.clock())
        return cur

    async def sweep(self) -> list[Visit]:
        """End visits whose car was not heard of for `idle_end_s`; returns them."""
        now = self.clock()
        gone = [v for v in self.open.values() if now - v.last_seen >= self.idle_end]
        for v in gone:
            await self._end(v, "gone", v.last_seen)
        return gone

    async def _end(self, v: Visit, state: str, when: datetime) -> None:
        post: VisitScan | None = v.latest
        if post is not None and post.distance_since_clear_km is None:
            post = post.model_copy(update={"distance_since_clear_km": v.distance_since_clear_km})
        v.post = post
        v.diff = scan_diff(v.pre, post) if v.pre is not None and post is not None else None
        v.state = "finished" if state == "finished" else "gone"
        v.ended_at = when
        self.open.pop(v.bay, None)
        await self._save(v, emit=True)
        log.info("visit %s in bay %s %s (vin %s)", v.visit, v.bay, v.state, v.vin)

    # -- history -----------------------------------------------------------------------------

    async def history(
        self, vin: str, *, exclude: str | None = None
    ) -> tuple[list[Visit], dict[str, list[str]]]:
        """Past visits of `vin` (newest first) and what changed since: new, recurring, came_back."""
        visits = [v for v in await self.store.visits_of(vin) if v.visit != exclude]
        current = self.open_for_vin(vin)
        codes = codes_of(current.pre.dtcs) if current is not None and current.pre is not None else []
        earlier = [(_visit_codes(v), v.diff.cleared if v.diff else []) for v in visits if v is not current]
        return visits, dict(history_change(codes, earlier))

    def open_for_vin(self, vin: str) -> Visit | None:
        return next((v for v in self.open.values() if v.vin == vin), None)

    # -- helpers ---------------------------------------------------------------------------

    def _new(self, bay: str, vin: str | None, by: str, ts: datetime) -> Visit:
        started_by: Literal["dongle", "scan"] = "dongle" if by == "dongle" else "scan"
        v = Visit(
            visit=str(uuid.uuid4()), bay=bay, vin=vin, started_at=ts, started_by=started_by, last_seen=ts
        )
        self.open[bay] = v
        log.info("visit %s opened in bay %s by %s (vin %s)", v.visit, bay, by, vin)
        return v

    async def _save(self, v: Visit, *, emit: bool) -> None:
        await self.store.put_visit(v)
        if emit:
            await self.sink.emit("visit", v.record_body(), ts=self.clock())


def _same_car(visit_vin: str | None, vin: str | None) -> bool:
    """A report or scan without a (valid) VIN belongs to whatever car is in the bay."""
    return visit_vin is None or vin is None or visit_vin == vin


def _visit_codes(v: Visit) -> list[str]:
    out: dict[str, None] = {}
    for scan in (v.pre, v.post):
        if scan is not None:
            out.update(dict.fromkeys(codes_of(scan.dtcs)))
    return list(out)
