"""Mode 06: on-board monitoring test results (SAE J1979 / ISO 15031-5), sans-IO.

On CAN (ISO 15765-4) a request `06 <OBDMID>` is answered with `46` and one 9-byte
block per test: OBDMID, TID (test id), UASID (unit and scaling id), test value, minimum
and maximum limit (2 bytes each, big-endian). OBDMIDs 00, 20, ... E0 are bitmaps of
the supported OBDMIDs, like Mode 01's PID 00. A test passes when min <= value <= max.

Names (OBDMID = which monitor, TID = which test) and the unit-and-scaling table below
are written from the standard's appendices (J1979 Appendix D/E) for this project; a
UASID we do not know is shown raw with its number. Legacy buses (J1850, ISO 9141,
KWP) report Mode 06 in a different, manufacturer-specific layout: not decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.obd2.errors import DecodeError

__all__ = ["MonitorTest", "Scaling", "decode_tests", "mid_name", "scaling", "supported_mids", "tid_name"]


@dataclass(frozen=True)
class Scaling:
    per_bit: float
    unit: str
    signed: bool = False
    offset: float = 0.0

    def value(self, raw: bytes) -> float:
        n = int.from_bytes(raw, "big", signed=self.signed)
        v = n * self.per_bit + self.offset
        return round(v, 6)


# UASID -> scaling (J1979 Appendix E). 0x01-0x7F unsigned, 0x81-0xFE signed.
_UAS: dict[int, Scaling] = {
    0x01: Scaling(1, ""),
    0x02: Scaling(0.1, ""),
    0x03: Scaling(0.01, ""),
    0x04: Scaling(0.001, ""),
    0x05: Scaling(0.0000305, ""),
    0x06: Scaling(0.000305, ""),
    0x07: Scaling(0.25, "rpm"),
    0x08: Scaling(0.01, "km/h"),
    0x09: Scaling(1, "km/h"),
    0x0A: Scaling(0.122, "mV"),
    0x0B: Scaling(0.001, "V"),
    0x0C: Scaling(0.01, "V"),
    0x0D: Scaling(0.00390625, "mA"),
    0x0E: Scaling(0.001, "A"),
    0x0F: Scaling(0.01, "A"),
    0x10: Scaling(1, "ms"),
    0x11: Scaling(100, "ms"),
    0x12: Scaling(1, "s"),
    0x13: Scaling(1, "mOhm"),
    0x14: Scaling(1, "Ohm"),
    0x15: Scaling(1, "kOhm"),
    0x16: Scaling(0.1, "degC", offset=-40.0),
    0x17: Scaling(0.01, "kPa"),
    0x18: Scaling(0.0117, "kPa"),
    0x19: Scaling(0.079, "kPa"),
    0x1A: Scaling(1, "kPa"),
    0x1B: Scaling(10, "kPa"),
    0x1C: Scaling(0.01, "deg"),
    0x1D: Scaling(0.5, "deg"),
    0x1E: Scaling(0.0000305, "ratio"),
    0x1F: Scaling(0.05, "ratio"),
    0x20: Scaling(0.00390625, "ratio"),
    0x21: Scaling(1, "mHz"),
    0x22: Scaling(1, "Hz"),
    0x23: Scaling(1, "kHz"),
    0x24: Scaling(1, "counts"),
    0x25: Scaling(1, "km"),
    0x26: Scaling(0.1, "mV/ms"),
    0x27: Scaling(0.01, "g/s"),
    0x28: Scaling(1, "g/s"),
    0x29: Scaling(0.25, "Pa/s"),
    0x2A: Scaling(0.001, "kg/h"),
    0x2B: Scaling(1, "switches"),
    0x2C: Scaling(0.01, "g/cyl"),
    0x2D: Scaling(0.01, "mg/stroke"),
    0x2F: Scaling(0.01, "%"),
    0x81: Scaling(1, "", signed=True),
    0x82: Scaling(0.1, "", signed=True),
    0x83: Scaling(0.01, "", signed=True),
    0x84: Scaling(0.001, "", signed=True),
    0x85: Scaling(0.0000305, "", signed=True),
    0x86: Scaling(0.000305, "", signed=True),
    0x8A: Scaling(0.122, "mV", signed=True),
    0x8B: Scaling(0.001, "V", signed=True),
    0x8C: Scaling(0.01, "V", signed=True),
    0x8D: Scaling(0.00390625, "mA", signed=True),
    0x8E: Scaling(0.001, "A", signed=True),
    0x90: Scaling(1, "ms", signed=True),
    0x9C: Scaling(0.01, "deg", signed=True),
    0x9D: Scaling(0.5, "deg", signed=True),
}


def scaling(uas: int) -> Scaling:
    """The unit and scaling of a UASID; unknown ones are raw counts named by number."""
    return _UAS.get(uas) or Scaling(1, f"UAS 0x{uas:02X}", signed=uas >= 0x80)


def _o2(n: int) -> str:
    return f"O2 sensor bank {(n - 1) // 4 + 1} sensor {(n - 1) % 4 + 1}"


def mid_name(mid: int) -> str:
    """The monitor an OBDMID names (J1979 Appendix D), e.g. 0xA2 -> 'misfire cylinder 1'."""
    if 0x01 <= mid <= 0x10:
        return f"{_o2(mid)} monitor"
    if 0x21 <= mid <= 0x24:
        return f"catalyst monitor bank {mid - 0x20}"
    if 0x31 <= mid <= 0x34:
        return f"EGR monitor bank {mid - 0x30}"
    if 0x35 <= mid <= 0x38:
        return f"VVT monitor bank {mid - 0x34}"
    named = {
        0x39: "EVAP monitor (cap off / 0.150 in)",
        0x3A: "EVAP monitor (0.090 in)",
        0x3B: "EVAP monitor (0.040 in)",
        0x3C: "EVAP monitor (0.020 in)",
        0x3D: "purge flow monitor",
        0xA1: "misfire monitor general data",
    }
    if mid in named:
        return named[mid]
    if 0x41 <= mid <= 0x50:
        return f"{_o2(mid - 0x40)} heater monitor"
    if 0x61 <= mid <= 0x64:
        return f"heated catalyst monitor bank {mid - 0x60}"
    if 0x71 <= mid <= 0x74:
        return f"secondary air monitor {mid - 0x70}"
    if 0x81 <= mid <= 0x84:
        return f"fuel system monitor bank {mid - 0x80}"
    if 0xA2 <= mid <= 0xAD:
        return f"misfire cylinder {mid - 0xA1}"
    if mid in (0xB0, 0xB1):
        return f"PM filter monitor bank {mid - 0xAF}"
    return f"monitor 0x{mid:02X}"


_O2_TIDS = {
    0x01: "rich to lean sensor threshold voltage",
    0x02: "lean to rich sensor threshold voltage",
    0x03: "low sensor voltage for switch time calculation",
    0x04: "high sensor voltage for switch time calculation",
    0x05: "rich to lean sensor switch time",
    0x06: "lean to rich sensor switch time",
    0x07: "minimum sensor voltage for test cycle",
    0x08: "maximum sensor voltage for test cycle",
    0x09: "time between sensor transitions",
    0x0A: "sensor period",
}
_MISFIRE_TIDS = {
    0x0B: "misfire count, average of the last 10 driving cycles (EWMA)",
    0x0C: "misfire count, last/current driving cycle",
}


def tid_name(mid: int, tid: int) -> str:
    """A standard test's name; 0x80-0xFE are the manufacturer's own tests."""
    if 0x01 <= mid <= 0x10 and tid in _O2_TIDS:
        return _O2_TIDS[tid]
    if 0xA1 <= mid <= 0xAD and tid in _MISFIRE_TIDS:
        return _MISFIRE_TIDS[tid]
    if tid >= 0x80:
        return f"manufacturer test 0x{tid:02X}"
    return f"test 0x{tid:02X}"


@dataclass(frozen=True)
class MonitorTest:
    mid: int
    tid: int
    uas: int
    value: float
    min: float
    max: float
    unit: str
    ecu: str = ""

    @property
    def monitor(self) -> str:
        return mid_name(self.mid)

    @property
    def name(self) -> str:
        return tid_name(self.mid, self.tid)

    @property
    def passed(self) -> bool:
        return self.min <= self.value <= self.max

    def as_dict(self) -> dict[str, object]:
        return {
            "mid": f"{self.mid:02X}",
            "tid": f"{self.tid:02X}",
            "monitor": self.monitor,
            "test": self.name,
            "value": self.value,
            "min": self.min,
            "max": self.max,
            "unit": self.unit or None,
            "passed": self.passed,
            "ecu": self.ecu or None,
        }


def supported_mids(data: bytes, base: int) -> set[int]:
    """OBDMIDs a `46 <base> A B C D` bitmap says are supported (base = 00, 20, ...)."""
    if len(data) != 4:
        raise DecodeError(f"Mode 06 bitmap is 4 bytes, got {len(data)}")
    bits = int.from_bytes(data, "big")
    return {base + i for i in range(1, 33) if bits & (1 << (32 - i))}


def decode_tests(message: bytes, ecu: str = "") -> list[MonitorTest]:
    """The tests in one `46 ...` message (CAN layout: 9-byte blocks, each with its MID)."""
    if not message or message[0] != 0x46:
        raise DecodeError(f"not a Mode 06 reply: {message.hex()}")
    body = message[1:]
    if len(body) % 9:
        raise DecodeError(f"Mode 06 reply of {len(body)} bytes is not whole 9-byte tests")
    out = []
    for i in range(0, len(body), 9):
        mid, tid, uas = body[i], body[i + 1], body[i + 2]
        sc = scaling(uas)
        raw = body[i + 3 : i + 9]
        out.append(
            MonitorTest(
                mid, tid, uas, sc.value(raw[0:2]), sc.value(raw[2:4]), sc.value(raw[4:6]), sc.unit, ecu
            )
        )
    return out
