"""The car behind the adapter: which ECU answers what to an OBD request (SAE J1979).

Pure over bytes: `respond(request, t)` returns the complete service messages each ECU
sends (e.g. `41 0C 1A F8`), before any transport framing (CAN PCI, ISO 9141 headers,
the adapter's display). Mode 04 mutates the DTC lists, like a real clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from .j1979 import PIDS, bitmap, encode_dtc
from .profile import COMMON_MONITORS, DIESEL_MONITORS, SPARK_MONITORS, Ecu, Profile

__all__ = ["Message", "Vehicle"]

# Negative response codes (ISO 14229 / J1979).
NRC_SERVICE_NOT_SUPPORTED = 0x11
NRC_SUBFUNCTION_NOT_SUPPORTED = 0x12
NRC_CONDITIONS_NOT_CORRECT = 0x22  # e.g. Mode 04 while the engine runs

# Legacy (ISO 9141-2 / KWP) replies carry at most 7 data bytes: 3 DTCs per Mode 03 frame.
LEGACY_DTCS_PER_FRAME = 3


@dataclass(frozen=True)
class Message:
    """One complete reply message from one ECU."""

    ecu: Ecu
    data: bytes


def readiness(ecu: Ecu) -> bytes:
    """PID 01: A = MIL + DTC count, B = common monitors + ignition type, C/D = supported/incomplete."""
    mil = ecu.mil if ecu.mil is not None else bool(ecu.stored)
    a = (0x80 if mil else 0) | min(len(ecu.stored), 0x7F)
    b = 0x08 if ecu.ignition == "compression" else 0
    for bit, name in enumerate(COMMON_MONITORS):
        state = ecu.monitors[name]
        if state != "not_supported":
            b |= 1 << bit
        if state == "incomplete":
            b |= 1 << (bit + 4)
    c = d = 0
    names = SPARK_MONITORS if ecu.ignition == "spark" else DIESEL_MONITORS
    for bit, name in enumerate(names):
        state = ecu.monitors[name]
        if state != "not_supported":
            c |= 1 << bit
        if state == "incomplete":
            d |= 1 << bit
    return bytes([a, b, c, d])


class Vehicle:
    """All ECUs of one profile, answering SAE J1979 services."""

    def __init__(
        self, profile: Profile, engine_running: bool = True, refuse_clear_running: bool = False
    ) -> None:
        self.profile = profile
        self.can = profile.protocol in (6, 7, 8, 9)
        # Ignition on, engine off: RPM and speed read 0. J1979 lets an ECU refuse Mode 04
        # while the engine runs (7F 04 22, conditionsNotCorrect); some do, many do not.
        self.engine_running = engine_running
        self.refuse_clear_running = refuse_clear_running

    def respond(self, request: bytes, t: float, target: int | None = None) -> list[Message]:
        """Every ECU's reply to `request` at simulated time `t`; target = one CAN id, None = all."""
        if not request:
            return []
        ecus = [e for e in self.profile.ecus if target is None or e.can_id == target]
        out: list[Message] = []
        for ecu in ecus:
            out.extend(Message(ecu, data) for data in self._ecu_reply(ecu, request, t))
        return out

    def _ecu_reply(self, ecu: Ecu, request: bytes, t: float) -> list[bytes]:
        mode, args = request[0], request[1:]
        if mode == 0x01:
            return self._mode01(ecu, args, t)
        if mode == 0x02:
            return self._mode02(ecu, args, t)
        if mode in (0x03, 0x07, 0x0A):
            if args:
                return []
            codes = {0x03: ecu.stored, 0x07: ecu.pending, 0x0A: ecu.permanent}[mode]
            return self._dtc_list(mode + 0x40, codes)
        if mode == 0x04:
            if args:
                return []
            if self.engine_running and self.refuse_clear_running:
                return [bytes([0x7F, 0x04, NRC_CONDITIONS_NOT_CORRECT])]
            ecu.stored.clear()
            ecu.pending.clear()
            ecu.freeze_frames.clear()
            ecu.mil = None
            return [b"\x44"]
        if mode == 0x09:
            return self._mode09(ecu, args)
        if mode == 0x06 and self.can and ecu.monitor_tests:
            return self._mode06(ecu, args)
        if ecu.answers_unsupported_services:
            return [bytes([0x7F, mode, NRC_SERVICE_NOT_SUPPORTED])]
        return []

    def _pid_bytes(self, ecu: Ecu, pid: int, t: float) -> bytes | None:
        if pid % 0x20 == 0:
            return bitmap(ecu.mode01, pid) if any(p > pid for p in ecu.mode01) or pid == 0 else None
        if pid == 0x01:
            return readiness(ecu)
        if pid in (0x0C, 0x0D) and not self.engine_running and pid in ecu.mode01:
            return PIDS[pid].encode(0)
        if pid in ecu.raw_pids:
            return ecu.raw_pids[pid]
        if pid in ecu.pids:
            return PIDS[pid].encode(ecu.pids[pid].value(t))
        if pid == 0x42 and 0x42 in ecu.mode01:
            return PIDS[0x42].encode(self.profile.battery_v.value(t))
        return None

    def _mode01(self, ecu: Ecu, pids: bytes, t: float) -> list[bytes]:
        if not pids:
            return []
        # ISO 9141-2 / KWP ECUs take one PID per request; CAN (ISO 15765-4) up to 6.
        wanted = list(pids[:6] if self.can else pids[:1])
        body = bytearray([0x41])
        for pid in wanted:
            data = self._pid_bytes(ecu, pid, t)
            if data is not None:
                body += bytes([pid]) + data
        if len(body) > 1:
            return [bytes(body)]
        if ecu.negative_unsupported_pids:
            return [bytes([0x7F, 0x01, NRC_SUBFUNCTION_NOT_SUPPORTED])]
        return []

    def _mode02(self, ecu: Ecu, args: bytes, t: float) -> list[bytes]:
        # Each item is PID + frame number; a request without the frame number is not a
        # valid J1979 Mode 02 request and a spec-following ECU stays silent (NO DATA).
        if not args or len(args) % 2:
            return []
        frames = {f.number: f for f in ecu.freeze_frames}
        body = bytearray([0x42])
        for i in range(0, len(args), 2):
            pid, number = args[i], args[i + 1]
            frame = frames.get(number)
            if frame is None:
                continue
            supported = {0x02, *frame.values}
            if pid % 0x20 == 0:
                data: bytes | None = bitmap(supported, pid)
            elif pid == 0x02:
                data = encode_dtc(frame.dtc)
            elif pid in frame.values:
                data = PIDS[pid].encode(frame.values[pid].value(t))
            else:
                data = None
            if data is not None:
                body += bytes([pid, number]) + data
        return [bytes(body)] if len(body) > 1 else []

    def _dtc_list(self, service: int, codes: list[str]) -> list[bytes]:
        raw = b"".join(encode_dtc(c) for c in codes)
        if self.can:
            # ISO 15765-4: the first data byte is the number of DTCs, then 2 bytes each.
            return [bytes([service, len(codes)]) + raw]
        # Legacy: no count byte, 3 DTCs per message, padded with 00 00; "none" is all zeros.
        chunk = 2 * LEGACY_DTCS_PER_FRAME
        pieces = [raw[i : i + chunk] for i in range(0, len(raw), chunk)] or [b""]
        return [bytes([service]) + p.ljust(chunk, b"\x00") for p in pieces]

    def _mode06(self, ecu: Ecu, args: bytes) -> list[bytes]:
        """ISO 15765-4 layout: 46 + one 9-byte block per test (MID, TID, UAS, value,
        min, max), each block carrying its MID; 06 00/20/.. ask the supported-MID bitmaps."""
        if len(args) != 1:
            return []
        mid = args[0]
        mids = {t.mid for t in ecu.monitor_tests}
        if mid % 0x20 == 0:
            return (
                [b"\x46" + bytes([mid]) + bitmap(mids, mid)] if any(m > mid for m in mids) or mid == 0 else []
            )
        blocks = [
            bytes([t.mid, t.tid, t.uas]) + b"".join(v.to_bytes(2, "big") for v in (t.value, t.min, t.max))
            for t in ecu.monitor_tests
            if t.mid == mid
        ]
        return [b"\x46" + b"".join(blocks)] if blocks else []

    def _mode09(self, ecu: Ecu, args: bytes) -> list[bytes]:
        if len(args) != 1:
            return []
        info = args[0]
        vin = self.profile.vin.encode() if ecu.reports_vin else b""
        calids = [c.encode()[:16].ljust(16, b"\x00") for c in ecu.calibration_ids]
        cvns = [bytes.fromhex(c) for c in ecu.cvns]
        supported = {0x01 if vin else -1, 0x02 if vin else -1, 0x03 if calids else -1, 0x04 if calids else -1}
        supported |= {0x05 if cvns else -1, 0x06 if cvns else -1, 0x09 if ecu.ecu_name else -1}
        supported |= {0x0A if ecu.ecu_name else -1}
        supported.discard(-1)
        if info == 0x00:
            return [b"\x49\x00" + bitmap(supported, 0)] if supported else []
        if info not in supported:
            return []
        if info in (0x05, 0x06, 0x09, 0x0A):
            return self._mode09_more(info, cvns, ecu.ecu_name)
        legacy_count = {0x01: 5, 0x02: 5, 0x03: len(calids), 0x04: 4 * len(calids)}[info]
        if info in (0x01, 0x03):
            return [bytes([0x49, info, legacy_count if not self.can else (1 if info == 1 else len(calids))])]
        payload = vin if info == 0x02 else b"".join(calids)
        if self.can:
            count = 1 if info == 0x02 else len(calids)
            return [bytes([0x49, info, count]) + payload]
        # Legacy: numbered 4-byte messages; the VIN's first message is 00 00 00 + 1st char.
        if info == 0x02:
            payload = b"\x00\x00\x00" + payload
        return [bytes([0x49, info, n + 1]) + payload[4 * n : 4 * n + 4] for n in range(len(payload) // 4)]

    def _mode09_more(self, info: int, cvns: list[bytes], name: str) -> list[bytes]:
        """CVNs (05 count, 06 data: 4 bytes per CALID) and the ECU name (09 count,
        0A data: 20 ASCII bytes, NUL padded). CAN layout: one message with a count
        byte; legacy: numbered 4-byte messages, as for the calibration IDs."""
        if info in (0x05, 0x09):
            n = len(cvns) if info == 0x05 else 5
            return [bytes([0x49, info, n if not self.can else (len(cvns) if info == 0x05 else 1)])]
        payload = b"".join(cvns) if info == 0x06 else name.encode()[:20].ljust(20, b"\x00")
        if self.can:
            return [bytes([0x49, info, len(cvns) if info == 0x06 else 1]) + payload]
        return [bytes([0x49, info, n + 1]) + payload[4 * n : 4 * n + 4] for n in range(len(payload) // 4)]
