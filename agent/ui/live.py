"""What a bay looks like right now, in memory: the latest vehicle report, the last
minute of live PIDs, the latest scans. Pure state fed by committed records; the
durable part (visits, vehicles, tasks) is in the UI store.

A minute of 5 PIDs at 10 Hz is 3,000 points per bay (~100 kB of floats): bounded by
age (60 s) and by count (`MAX_POINTS` per PID), so a fast car cannot grow the agent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agent.records import DtcClearRecord, Envelope, ScanRecord, TelemetryRecord, VehicleReportRecord
from agent.ui.diff import severity

__all__ = ["MAX_POINTS", "SERIES_S", "BayLive", "clear_json", "report_json", "scan_json"]

SERIES_S = 60.0
MAX_POINTS = 600  # 60 s at the 10 Hz ceiling of obd.telemetry_hz
MAX_SCANS = 20


def report_json(rec: VehicleReportRecord) -> dict[str, Any]:
    """The page's view of a report: codes with their group and severity, readiness flat."""
    r = rec.readiness
    mil = None if r is None else r.mil
    dtcs = [
        {"code": d.code, "description": d.description, "ecu": d.ecu, "group": group,
         "severity": severity(d.code, group=group, mil=mil)}
        for group, entries in (("stored", rec.dtcs.stored), ("pending", rec.dtcs.pending),
                               ("permanent", rec.dtcs.permanent))
        for d in entries
    ]  # fmt: skip
    return {
        "id": rec.id,
        "ts": rec.ts.isoformat(),
        "dongle": rec.dongle,
        "vin": rec.vin,
        "vin_valid": rec.vin_valid,
        "protocol": rec.protocol,
        "dtcs": dtcs,
        "mil": mil,
        "dtc_count": None if r is None else r.dtc_count,
        "ignition": None if r is None else r.ignition,
        "monitors": {} if r is None else r.monitors,
        "freeze_frame": None if rec.freeze_frame is None else rec.freeze_frame.model_dump(mode="json"),
        "calibration_ids": rec.calibration_ids,
        "errors": rec.errors,
        # Mode 06 (on-board monitor test results) is not in vehicle_report v1 yet: the
        # page shows the section when a report carries it (the OBD issue adds it).
        "mode06": None,
    }


def scan_json(rec: ScanRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "ts": rec.ts.isoformat(),
        "camera": rec.camera,
        "classification": rec.classification,
        "symbology": rec.symbology,
        "payload": rec.payload if rec.payload_encoding == "utf-8" else "(binary)",
        "vin": None if rec.vin is None else rec.vin.value,
        "verified": None if rec.vin is None else rec.vin.verified,
        "serial": rec.serial,
        "confidence": rec.confidence,
    }


def clear_json(rec: DtcClearRecord) -> dict[str, Any]:
    """The page's view of the last clear: its outcome and which codes it was about."""
    before = [d.code for d in (*rec.before.stored, *rec.before.pending)]
    left = [] if rec.after is None else [d.code for d in (*rec.after.stored, *rec.after.pending)]
    return {
        "id": rec.id,
        "ts": rec.ts.isoformat(),
        "dongle": rec.dongle,
        "outcome": rec.outcome,
        "reason": rec.reason,
        "cleared": [c for c in dict.fromkeys(before) if c not in left] if rec.after is not None else [],
        "ecus": rec.ecus,
    }


@dataclass
class BayLive:
    bay: str
    report: dict[str, Any] | None = None
    series: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)
    units: dict[str, str | None] = field(default_factory=dict)
    scans: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_SCANS))
    last_record: str | None = None
    clear: dict[str, Any] | None = None  # the last dtc_clear of this bay

    def apply(self, rec: Envelope) -> list[dict[str, Any]] | None:
        """Take one record; for telemetry, returns the new points (the page appends
        them instead of receiving the whole bay again)."""
        self.last_record = rec.id
        if isinstance(rec, VehicleReportRecord):
            self.report = report_json(rec)
        elif isinstance(rec, ScanRecord):
            self.scans.appendleft(scan_json(rec))
        elif isinstance(rec, DtcClearRecord):
            self.clear = clear_json(rec)
        elif isinstance(rec, TelemetryRecord):
            return self._samples(rec)
        return None

    def _samples(self, rec: TelemetryRecord) -> list[dict[str, Any]]:
        out = []
        newest = 0.0
        for s in rec.samples:
            if isinstance(s.value, bool) or not isinstance(s.value, int | float):
                continue  # graphs are numbers; text PIDs stay in the report
            t = (s.ts or rec.ts).timestamp()
            points = self.series.setdefault(s.pid, deque(maxlen=MAX_POINTS))
            points.append((t, float(s.value)))
            self.units[s.pid] = s.unit
            newest = max(newest, t)
            out.append({"pid": s.pid, "t": t, "v": float(s.value), "unit": s.unit})
        for points in self.series.values():
            while points and points[0][0] < newest - SERIES_S:
                points.popleft()
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "series": {
                pid: {"unit": self.units.get(pid), "points": [[t, v] for t, v in pts]}
                for pid, pts in self.series.items()
            },
            "scans": list(self.scans),
            "last_record": self.last_record,
            "clear": self.clear,
        }
