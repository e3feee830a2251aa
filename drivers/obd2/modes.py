"""The technician's remaining modes over a Session: Mode 06 test results, Mode 09
calibration verification numbers and ECU names, and Mode 04 clear DTCs.

Mode 04 erases stored and pending DTCs, freeze frames, Mode 06 results and the
readiness monitors (the car then needs drive cycles before an inspection). So it is
sent only when explicitly confirmed and while the engine does not run: RPM is read
first and must be 0; an RPM that cannot be read refuses too (we do not guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.obd2.diagnostics import read_pids, request_adaptive
from drivers.obd2.errors import ClearRefused, DecodeError, NegativeResponse, NoData, OBDError, ProtocolError
from drivers.obd2.monitors import MonitorTest, decode_tests, supported_mids
from drivers.obd2.pids import BY_NAME
from drivers.obd2.pids import supported_from_bitmap as _bitmap
from drivers.obd2.reply import Reply
from drivers.obd2.session import Quirk, Session
from drivers.obd2.vin import decode_calibration_ids, decode_cvns, decode_ecu_name

__all__ = ["ClearResult", "EcuInfo", "clear_dtcs", "read_ecu_info", "read_monitor_tests"]


async def _supported(session: Session, service: int) -> dict[str, set[int]]:
    """Per ECU, the PIDs/MIDs a service's bitmaps (00, 20, ... E0) say it supports."""
    out: dict[str, set[int]] = {}
    base = 0
    # Each answering ECU sends one single-frame bitmap: the count digit saves the ATST
    # wait when they all answer (headers on, so they can be counted).
    ecus = len(session.supported) if Quirk.NO_HEADERS not in session.quirks else session.responders
    while base <= 0xE0:
        try:
            reply = await session.request(service, bytes([base]), (ecus or None) if session.is_can else None)
        except (NoData, NegativeResponse):
            break
        more = False
        for ecu, msgs in reply.by_ecu.items():
            for m in msgs:
                if len(m) >= 6 and m[1] == base:
                    ids = supported_mids(m[2:6], base) if service == 0x06 else _bitmap(base, m[2:6])
                    out.setdefault(ecu, set()).update(ids)
                    more |= base + 0x20 in ids
        if not more:
            break
        base += 0x20
    return out


async def read_monitor_tests(session: Session) -> list[MonitorTest]:
    """Every Mode 06 test result the ECUs hold (CAN only), by ECU then MID.

    One request per supported OBDMID: the number of tests per MID is not known in
    advance, so no count digit (each waits out the adapter's ATST after the reply).
    """
    if not session.is_can:
        return []
    per_ecu = await _supported(session, 0x06)
    mids = sorted({m for s in per_ecu.values() for m in s if m % 0x20})
    out: list[MonitorTest] = []
    for mid in mids:
        try:
            reply = await request_adaptive(session, 0x06, bytes([mid]), None)
        except (NoData, NegativeResponse):
            continue
        for ecu in reply.ecus:
            for msg in reply.by_ecu[ecu]:
                out.extend(decode_tests(msg, ecu))
    return sorted(out, key=lambda t: (t.ecu, t.mid, t.tid))


@dataclass
class EcuInfo:
    ecu: str
    name: str | None = None  # Mode 09 PID 0A
    calibration_ids: list[str] = field(default_factory=list)  # PID 04
    cvns: list[str] = field(default_factory=list)  # PID 06, one per calibration ID

    def as_dict(self) -> dict[str, object]:
        return {
            "ecu": self.ecu,
            "name": self.name,
            "calibration_ids": self.calibration_ids,
            "cvns": self.cvns,
        }


async def read_ecu_info(session: Session) -> list[EcuInfo]:
    """Mode 09 calibration IDs, CVNs and ECU names, each only where the ECU's 0900
    bitmap says it is supported."""
    per_ecu = await _supported(session, 0x09)
    info = {ecu: EcuInfo(ecu) for ecu in sorted(per_ecu)}
    for pid in (0x04, 0x06, 0x0A):
        if not any(pid in s for s in per_ecu.values()):
            continue
        try:
            reply: Reply = await request_adaptive(session, 0x09, bytes([pid]), None)
        except (NoData, NegativeResponse):
            continue
        for ecu, msgs in reply.by_ecu.items():
            item = info.setdefault(ecu, EcuInfo(ecu))
            try:
                if pid == 0x04:
                    item.calibration_ids = decode_calibration_ids(msgs)
                elif pid == 0x06:
                    item.cvns = decode_cvns(msgs)
                else:
                    item.name = decode_ecu_name(msgs)
            except DecodeError:
                continue  # one ECU's garbled item does not hide the others'
    return list(info.values())


@dataclass(frozen=True)
class ClearResult:
    ecus: list[str]  # the ECUs that acknowledged (44)
    refused: dict[str, str]  # ECU -> why it refused (7F 04 NRC)


async def clear_dtcs(session: Session, *, confirm: bool) -> ClearResult:
    """Mode 04, only with `confirm` and with the engine stopped. Raises ClearRefused."""
    if not confirm:
        raise ClearRefused("clearing DTCs also erases freeze frames and readiness: confirm it explicitly")
    try:
        rpm = [r for r in await read_pids(session, [BY_NAME["RPM"]]) if r.pid.name == "RPM"]
    except (NoData, NegativeResponse, ProtocolError) as exc:
        raise ClearRefused(f"cannot tell whether the engine runs (RPM: {exc}); not clearing") from exc
    if not rpm or not isinstance(rpm[0].value, int | float):
        raise ClearRefused("cannot tell whether the engine runs (no RPM); not clearing")
    if rpm[0].value > 0:
        raise ClearRefused(f"the engine runs ({rpm[0].value:g} rpm): switch it off, ignition on, then clear")
    try:
        reply = await session.request(0x04)
    except NegativeResponse as exc:
        raise ClearRefused(f"every ECU refused: {exc}") from exc
    except OBDError:
        raise
    refused = {ecu: str(n) for ecu, n in reply.negatives.items()}
    return ClearResult(reply.ecus, refused)
