"""Clearing trouble codes (Mode 04) and what is recorded of it: the one procedure both
`baygate obd clear` and the bay screen's button (through the bay's vehicle session)
use, so a clear from either place reads, decides and records the same way.

The DTCs are read just before and just after the clear: the ECU's positive answer (44)
says the request was taken, not that the codes are gone. A stored or pending code still
reported after it makes the outcome `failed`; a permanent code survives Mode 04 by
design (SAE J1979) and does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from drivers.obd2 import diagnostics as diag
from drivers.obd2.dtc import DTC
from drivers.obd2.errors import ClearRefused
from drivers.obd2.modes import clear_dtcs
from drivers.obd2.session import Session

__all__ = ["ClearOutcome", "clear_and_check", "clear_body", "dtc_list"]

Outcome = Literal["cleared", "refused", "failed"]


def dtc_list(dtcs: list[DTC], with_ecu: bool) -> list[dict[str, Any]]:
    out = []
    for d in dtcs:
        item: dict[str, Any] = {"code": d.code, "description": d.description}
        if with_ecu:
            item["ecu"] = d.ecu or None
        out.append(item)
    return out


def _dtc_set(dtcs: Mapping[str, list[DTC]]) -> dict[str, list[dict[str, Any]]]:
    return {mode: dtc_list(list(dtcs.get(mode, [])), True) for mode in diag.DTC_MODES}


def clear_body(
    dongle: str,
    vin: str | None,
    before: Mapping[str, list[DTC]],
    *,
    outcome: str,
    reason: str | None = None,
    after: Mapping[str, list[DTC]] | None = None,
    ecus: list[str] | None = None,
) -> dict[str, Any]:
    """The body of a dtc_clear record (Mode 04 asked for: cleared, refused or failed)."""
    return {
        "dongle": dongle,
        "vin": vin,
        "outcome": outcome,
        "reason": reason,
        "before": _dtc_set(before),
        "after": None if after is None else _dtc_set(after),
        "ecus": ecus or [],
    }


@dataclass(frozen=True)
class ClearOutcome:
    outcome: Outcome
    reason: str | None
    before: Mapping[str, list[DTC]]
    after: Mapping[str, list[DTC]] | None = None
    ecus: tuple[str, ...] = ()

    def body(self, dongle: str, vin: str | None) -> dict[str, Any]:
        return clear_body(
            dongle, vin, self.before, outcome=self.outcome, reason=self.reason, after=self.after,
            ecus=list(self.ecus),
        )  # fmt: skip

    @property
    def cleared(self) -> int:
        """How many stored and pending codes were erased (permanent ones stay)."""
        return sum(len(v) for m, v in self.before.items() if m != "permanent")


async def clear_and_check(session: Session, *, confirm: bool) -> ClearOutcome:
    """Read the DTCs, send Mode 04 (drivers.obd2.modes.clear_dtcs: confirmed, engine
    stopped), read them again. A refusal (ours or every ECU's) is an outcome; a link
    that fails on the way raises OBDError."""
    before = {mode: await diag.read_dtcs(session, mode) for mode in diag.DTC_MODES}
    try:
        result = await clear_dtcs(session, confirm=confirm)
    except ClearRefused as exc:
        return ClearOutcome("refused", str(exc), before)
    after = {mode: await diag.read_dtcs(session, mode) for mode in diag.DTC_MODES}
    left = [d.code for mode in ("stored", "pending") for d in after[mode]]
    reason = f"still reported after the clear: {', '.join(left)}" if left else None
    return ClearOutcome("failed" if left else "cleared", reason, before, after, tuple(result.ecus))
