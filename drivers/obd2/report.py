"""The first read of a car: VIN, DTCs, readiness, freeze frame, calibration IDs.

Driver-level: it knows requests and decoders, not records. The agent turns a
`VehicleReport` into a record body (agent/vehicle.py); the CLI prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.obd2 import diagnostics as diag
from drivers.obd2.dtc import DTC
from drivers.obd2.errors import LinkLost, NoData, OBDError
from drivers.obd2.frames import PROTOCOL_NAMES
from drivers.obd2.modes import EcuInfo, read_ecu_info, read_monitor_tests
from drivers.obd2.monitors import MonitorTest
from drivers.obd2.readiness import ReadinessStatus
from drivers.obd2.session import Session

__all__ = ["PROTOCOL_NAMES", "VehicleReport", "protocol_name", "read_report"]


def protocol_name(number: str | None) -> str | None:
    """The name of an ELM327 protocol number; the number itself when unknown."""
    return PROTOCOL_NAMES.get(number or "", number)


@dataclass
class VehicleReport:
    vin: str | None = None
    vin_valid: bool = False
    protocol: str | None = None
    ecus: list[str] = field(default_factory=list)
    dtcs: dict[str, list[DTC]] = field(default_factory=dict)
    readiness: ReadinessStatus | None = None
    freeze_frame: diag.FreezeFrameData | None = None
    calibration_ids: list[str] = field(default_factory=list)
    ecu_info: list[EcuInfo] = field(default_factory=list)  # Mode 09: names, CALIDs, CVNs
    monitor_tests: list[MonitorTest] = field(default_factory=list)  # Mode 06, when asked
    errors: list[str] = field(default_factory=list)


async def read_report(session: Session, *, monitors: bool = False) -> VehicleReport:
    """Everything a technician wants first. A part that fails is noted in `errors`,
    the rest is still read: a car without Mode 0A support still has a VIN.

    `monitors` adds the Mode 06 test results: one request per monitor (a dozen on a
    typical car, each waiting out ATST), so only when asked."""
    rep = VehicleReport(protocol=protocol_name(session.protocol), ecus=session.ecus)
    try:
        rep.vin, rep.vin_valid = await diag.read_vin(session)
    except OBDError as exc:
        _note(rep, "vin", exc)
    for mode in diag.DTC_MODES:
        try:
            rep.dtcs[mode] = await diag.read_dtcs(session, mode)
        except OBDError as exc:
            rep.dtcs[mode] = []
            _note(rep, f"dtcs.{mode}", exc)
    try:
        rep.readiness = await diag.read_readiness(session)
    except OBDError as exc:
        _note(rep, "readiness", exc)
    try:
        rep.freeze_frame = await diag.read_freeze_frame(session)
    except OBDError as exc:
        _note(rep, "freeze_frame", exc)
    try:
        rep.ecu_info = await read_ecu_info(session)
        rep.calibration_ids = [c for info in rep.ecu_info for c in info.calibration_ids]
    except NoData:
        pass  # optional; many cars do not answer Mode 09 beyond the VIN
    except OBDError as exc:
        _note(rep, "ecu_info", exc)
    if monitors:
        try:
            rep.monitor_tests = await read_monitor_tests(session)
        except NoData:
            pass
        except OBDError as exc:
            _note(rep, "monitor_tests", exc)
    return rep


def _note(rep: VehicleReport, what: str, exc: OBDError) -> None:
    if isinstance(exc, LinkLost):
        raise exc
    rep.errors.append(f"{what}: {type(exc).__name__}: {exc}")
