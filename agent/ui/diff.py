"""What changed: a visit's pre-scan against its post-scan, and a vehicle's visit against
its earlier visits. Pure functions over record models (no I/O), so the visit book, the
page and the printed report all say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from agent.records import DTCSet, VehicleReportRecord, VisitDiff, VisitScan

__all__ = ["Change", "codes_of", "history_change", "scan_diff", "scan_from_report", "severity"]

Severity = Literal["critical", "high", "medium", "low"]

# Codes a technician must see first (SAE J2012 generic meanings):
# P0300-P0312 misfire (a flashing MIL: catalyst damage within minutes of driving),
# P0217/P0218 engine/transmission over-temperature, P0520-P0524 oil pressure.
_CRITICAL_PREFIXES = ("P030", "P031", "P0217", "P0218", "P052")


def codes_of(dtcs: DTCSet) -> list[str]:
    """Every code of a scan once, in stored, pending, permanent order."""
    seen: dict[str, None] = {}
    for group in (dtcs.stored, dtcs.pending, dtcs.permanent):
        for d in group:
            seen.setdefault(d.code, None)
    return list(seen)


def severity(code: str, *, group: str, mil: bool | None) -> Severity:
    """How urgent a code is on the bay screen: the generic meaning first, then whether
    the ECU confirmed it (stored/permanent) and lit the MIL; pending codes are a hint."""
    if code.startswith(_CRITICAL_PREFIXES) and group != "pending":
        return "critical"
    if group == "pending":
        return "low"
    if mil or group == "permanent":
        return "high"
    return "medium"


def scan_from_report(rec: VehicleReportRecord, distance_since_clear_km: float | None = None) -> VisitScan:
    r = rec.readiness
    return VisitScan(
        report=rec.id,
        ts=rec.ts,
        dtcs=rec.dtcs,
        mil=None if r is None else r.mil,
        monitors={} if r is None else dict(r.monitors),
        freeze_frame=rec.freeze_frame,
        distance_since_clear_km=distance_since_clear_km,
    )


def _incomplete(scan: VisitScan) -> set[str]:
    return {m for m, s in scan.monitors.items() if s.get("supported") and not s.get("complete")}


def scan_diff(pre: VisitScan, post: VisitScan) -> VisitDiff:
    before, after = codes_of(pre.dtcs), codes_of(post.dtcs)
    pre_open, post_open = _incomplete(pre), _incomplete(post)
    ready = sorted(m for m in pre_open - post_open if post.monitors.get(m, {}).get("complete"))
    return VisitDiff(
        cleared=[c for c in before if c not in after],
        new=[c for c in after if c not in before],
        still_present=[c for c in before if c in after],
        monitors_ready=ready,
        monitors_not_ready=sorted(post_open),
        mil_before=pre.mil,
        mil_after=post.mil,
        freeze_frame_cleared=pre.freeze_frame is not None and post.freeze_frame is None,
    )


class Change(dict[str, list[str]]):
    """{new, recurring, came_back}: the codes of this visit against the earlier ones."""


def history_change(current: Sequence[str], earlier: Sequence[tuple[Sequence[str], Sequence[str]]]) -> Change:
    """`earlier`: per past visit (newest first), (codes seen in the visit, codes cleared in it).

    new: never seen in an earlier visit; recurring: seen before and never cleared;
    came_back: cleared in an earlier visit and present again (a repair that did
    not hold, or codes cleared to pass an inspection)."""
    seen_before = {c for codes, _ in earlier for c in codes}
    cleared_before = {c for _, cleared in earlier for c in cleared}
    out = Change(new=[], recurring=[], came_back=[])
    for code in current:
        if code in cleared_before:
            out["came_back"].append(code)
        elif code not in seen_before:
            out["new"].append(code)
        else:
            out["recurring"].append(code)
    return out
