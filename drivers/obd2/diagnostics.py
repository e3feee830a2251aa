"""What a technician wants from a car, as requests over a Session.

Each read asks with the expected-response count digit when the reply shape is known
(an ECU's frames for its reply length) so the adapter answers as soon as the frames
arrived instead of waiting out ATST (~200 ms). If the guess was short, the reply is
truncated (ProtocolError) and the request is repeated once without the digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from drivers.obd2.dtc import DTC, decode_dtc, decode_dtc_messages
from drivers.obd2.errors import DecodeError, NoData, ProtocolError, Truncated
from drivers.obd2.pids import BY_CODE, PID, Value, decode_batch, supported_from_bitmap
from drivers.obd2.readiness import ReadinessStatus, decode_readiness
from drivers.obd2.reply import Reply
from drivers.obd2.session import Quirk, Session
from drivers.obd2.vin import decode_calibration_ids, decode_vin, vin_is_valid

__all__ = [
    "DTC_MODES",
    "FreezeFrameData",
    "Reading",
    "can_frames",
    "count_for",
    "expected_count",
    "read_calibration_ids",
    "read_dtcs",
    "read_freeze_frame",
    "read_pids",
    "read_readiness",
    "read_vin",
    "request_adaptive",
]

DTC_MODES = {"stored": 0x03, "pending": 0x07, "permanent": 0x0A}
# Freeze-frame PIDs worth showing; the ECU's Mode 02 bitmap filters them.
FREEZE_PIDS = (0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x1F, 0x2F, 0x33, 0x42)


@dataclass(frozen=True)
class Reading:
    pid: PID
    value: Value
    ecu: str


@dataclass(frozen=True)
class FreezeFrameData:
    frame: int
    dtc: str | None
    values: list[Reading] = field(default_factory=list)


def can_frames(length: int) -> int:
    """CAN frames an ISO-TP message of `length` bytes takes (single frame holds 7)."""
    return 1 if length <= 7 else 1 + math.ceil((length - 6) / 7)


def expected_count(session: Session, pids: list[PID]) -> int | None:
    """The count digit for a Mode 01 request of `pids`, from the ECUs that support any."""
    lengths = []
    for supported in session.supported.values():
        mine = [p for p in pids if p.code in supported or p.code % 0x20 == 0]
        if mine:
            lengths.append(1 + sum(1 + p.size for p in mine))
    return count_for(session, lengths)


def count_for(session: Session, lengths: list[int]) -> int | None:
    """The count digit for replies of these lengths (one per answering ECU).

    The ELM327 datasheet counts "lines" (responses): on CAN each frame is a line, so a
    20-byte VIN from one ECU is 3 (first frame + 2 consecutive frames). Legacy buses
    send one line per message. None when unknown or above 15 (one hex digit).
    """
    if not lengths:
        return None
    if Quirk.NO_HEADERS in session.quirks and session.responders != 1:
        # Headers off: replies of several ECUs cannot be told apart, so neither can
        # their number; without the digit the adapter waits out ATST instead. With one
        # ECU alone on the bus (one 0100 answer) the digit is safe.
        return None
    total = sum(can_frames(n) for n in lengths) if session.is_can else len(lengths)
    return total if 1 <= total <= 15 else None


async def request_adaptive(
    session: Session, service: int, payload: bytes, count: int | None, *, retry_garbled: bool = True
) -> Reply:
    """A request with the count digit. A reply cut short by a wrong guess (another ECU
    answered too) is asked again without the digit; a garbled reply (line noise) once
    more as it was, unless `retry_garbled` is off (polling: the next poll is the retry)."""
    try:
        return await session.request(service, payload, count)
    except Truncated:
        if count is None:
            raise
        return await session.request(service, payload, None)
    except ProtocolError:
        if not retry_garbled:
            raise
        return await session.request(service, payload, count)


def _engine_count(session: Session, length: int) -> int | None:
    return count_for(session, [length])


async def read_vin(session: Session) -> tuple[str, bool]:
    """(VIN, check digit valid). Raises NoData if no ECU supports it, DecodeError if garbled."""
    reply = await request_adaptive(
        session, 0x09, b"\x02", _engine_count(session, 20) if session.is_can else None
    )
    errors: list[str] = []
    for ecu in reply.ecus:
        try:
            vin = decode_vin(reply.by_ecu[ecu])
        except DecodeError as exc:
            errors.append(f"{ecu}: {exc}")
            continue
        return vin, vin_is_valid(vin)
    raise DecodeError("; ".join(errors) or "no VIN")


async def read_calibration_ids(session: Session) -> dict[str, list[str]]:
    reply = await request_adaptive(
        session, 0x09, b"\x04", _engine_count(session, 19) if session.is_can else None
    )
    out: dict[str, list[str]] = {}
    for ecu, msgs in reply.by_ecu.items():
        try:
            out[ecu] = decode_calibration_ids(msgs)
        except DecodeError:
            continue
    return out


async def read_dtcs(session: Session, mode: str) -> list[DTC]:
    """DTCs of one kind (stored/pending/permanent) from every ECU that answers."""
    service = DTC_MODES[mode]
    # On CAN every OBD ECU answers Mode 03/07/0A once (count 0 when it has nothing);
    # an ECU that does not costs one ATST wait, as without the digit. Legacy ECUs send
    # one line per 3 DTCs, a number we cannot know beforehand.
    headers = Quirk.NO_HEADERS not in session.quirks
    ecus = len(session.supported) if headers else (1 if session.responders == 1 else 0)
    count = (ecus or None) if session.is_can else None
    try:
        reply = await request_adaptive(session, service, b"", count)
    except NoData:
        return []
    out: list[DTC] = []
    for ecu in reply.ecus:
        for d in decode_dtc_messages(reply.by_ecu[ecu], ecu):
            if all(x.code != d.code for x in out):
                out.append(d)
    return out


async def read_readiness(session: Session) -> ReadinessStatus:
    pid = BY_CODE[0x01]
    reply = await request_adaptive(session, 0x01, b"\x01", expected_count(session, [pid]))
    ecu, msgs = reply.first()
    for m in msgs:
        if len(m) >= 6 and m[1] == 0x01:
            return decode_readiness(m[2:6])
    raise DecodeError(f"no readiness data from {ecu}")


async def read_pids(session: Session, pids: list[PID]) -> list[Reading]:
    """Read Mode 01 PIDs: up to 6 per request on CAN, 1 otherwise. One reading per
    PID (the lowest ECU that answered it). Raises on the first failing request."""
    size = 6 if session.is_can else 1
    out: list[Reading] = []
    for i in range(0, len(pids), size):
        batch = pids[i : i + size]
        payload = bytes(p.code for p in batch)
        reply = await request_adaptive(session, 0x01, payload, expected_count(session, batch))
        out.extend(readings_from(reply))
    return out


def readings_from(reply: Reply, per_pid_extra: int = 0) -> list[Reading]:
    seen: set[int] = set()
    out: list[Reading] = []
    for ecu in reply.ecus:
        for msg in reply.by_ecu[ecu]:
            for pid, data in decode_batch(msg[1:], per_pid_extra):
                if pid.code not in seen:
                    seen.add(pid.code)
                    out.append(Reading(pid, pid.value(data), ecu))
    return out


async def read_freeze_frame(session: Session, frame: int = 0) -> FreezeFrameData | None:
    """Freeze frame `frame`: the DTC that stored it and the values it holds.

    Mode 02 requests carry the frame number (`02 0C 00`); without it a spec-following
    ECU answers NO DATA (python-OBD's bug). None when the car stored no freeze frame.
    """
    f = bytes([frame])
    count = _engine_count(session, 5)
    try:
        head = await request_adaptive(session, 0x02, b"\x02" + f, count)
    except NoData:
        return None
    _, msgs = head.first()
    dtc: str | None = None
    for m in msgs:
        if len(m) >= 5 and m[1] == 0x02:
            if m[3:5] == b"\x00\x00":
                return None  # no freeze frame stored
            dtc = decode_dtc(m[3:5])
    try:
        bitmap = await request_adaptive(session, 0x02, b"\x00" + f, count)
        _, bmsgs = bitmap.first()
        supported = next(
            (supported_from_bitmap(0, m[3:7]) for m in bmsgs if len(m) >= 7 and m[1] == 0), set[int]()
        )
    except NoData:
        supported = set(FREEZE_PIDS)
    wanted = [BY_CODE[c] for c in FREEZE_PIDS if c in supported]
    values: list[Reading] = []
    step = 3 if session.is_can else 1  # 3 (PID, frame) pairs fill a single request frame
    for i in range(0, len(wanted), step):
        batch = wanted[i : i + step]
        payload = b"".join(bytes([p.code, frame]) for p in batch)
        length = 1 + sum(2 + p.size for p in batch)
        try:
            reply = await request_adaptive(session, 0x02, payload, _engine_count(session, length))
        except NoData:
            continue
        ecu, fmsgs = reply.first()
        for msg in fmsgs:
            for pid, data in decode_batch(msg[1:], per_pid_extra=1):
                values.append(Reading(pid, pid.value(data), ecu))
    return FreezeFrameData(frame, dtc, values)
