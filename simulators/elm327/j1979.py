"""Encoders from physical values to SAE J1979 / ISO 15031-5 reply bytes.

Written from the J1979 definitions (formula per PID), independently of any driver: the
simulator must catch a decoder's mistakes, not share them. Each encoder is the inverse
of the standard's decoding formula, rounded and clamped to the field's raw range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PIDS", "PidSpec", "bitmap", "encode_dtc", "vin_check_digit", "vin_is_valid"]

Encoder = Callable[[float], bytes]


def _clamp(raw: float, top: int) -> int:
    return max(0, min(top, round(raw)))


def _u8(scale: float = 1.0, offset: float = 0.0) -> Encoder:
    """value = A * scale + offset."""
    return lambda v: bytes([_clamp((v - offset) / scale, 0xFF)])


def _u16(scale: float = 1.0, offset: float = 0.0) -> Encoder:
    """value = (256A + B) * scale + offset."""
    return lambda v: _clamp((v - offset) / scale, 0xFFFF).to_bytes(2, "big")


def _o2_narrow(v: float) -> bytes:
    # A = voltage / 0.005; B = short-term trim, 0xFF = "sensor not used in trim calculation".
    return bytes([_clamp(v / 0.005, 0xFF), 0xFF])


def _o2_wide_voltage(v: float) -> bytes:
    # Equivalence ratio (lambda) = 2/65536 * (256A+B); voltage fixed at 4 V (CD = 0x8000).
    return _clamp(v * 32768, 0xFFFF).to_bytes(2, "big") + b"\x80\x00"


def _o2_wide_current(v: float) -> bytes:
    # lambda as above; current = (256C+D)/256 - 128 mA, 0x8000 = 0 mA.
    return _clamp(v * 32768, 0xFFFF).to_bytes(2, "big") + b"\x80\x00"


PERCENT = 100 / 255
TRIM = 100 / 128


@dataclass(frozen=True)
class PidSpec:
    """One Mode 01 PID: its J1979 name, unit and byte count, and the value encoder."""

    name: str
    unit: str
    size: int
    encode: Encoder


def _spec(name: str, unit: str, size: int, enc: Encoder) -> PidSpec:
    return PidSpec(name, unit, size, enc)


PIDS: dict[int, PidSpec] = {
    0x04: _spec("engine load", "%", 1, _u8(PERCENT)),
    0x05: _spec("coolant temperature", "degC", 1, _u8(1, -40)),
    0x06: _spec("short term fuel trim bank 1", "%", 1, _u8(TRIM, -100)),
    0x07: _spec("long term fuel trim bank 1", "%", 1, _u8(TRIM, -100)),
    0x08: _spec("short term fuel trim bank 2", "%", 1, _u8(TRIM, -100)),
    0x09: _spec("long term fuel trim bank 2", "%", 1, _u8(TRIM, -100)),
    0x0A: _spec("fuel pressure", "kPa", 1, _u8(3)),
    0x0B: _spec("intake manifold pressure", "kPa", 1, _u8()),
    0x0C: _spec("engine speed", "rpm", 2, _u16(0.25)),
    0x0D: _spec("vehicle speed", "km/h", 1, _u8()),
    0x0E: _spec("timing advance", "deg", 1, _u8(0.5, -64)),
    0x0F: _spec("intake air temperature", "degC", 1, _u8(1, -40)),
    0x10: _spec("MAF air flow rate", "g/s", 2, _u16(0.01)),
    0x11: _spec("throttle position", "%", 1, _u8(PERCENT)),
    **{pid: _spec(f"O2 sensor {pid - 0x13} voltage", "V", 2, _o2_narrow) for pid in range(0x14, 0x1C)},
    0x1F: _spec("run time since engine start", "s", 2, _u16()),
    0x21: _spec("distance with MIL on", "km", 2, _u16()),
    0x22: _spec("fuel rail pressure (vacuum)", "kPa", 2, _u16(0.079)),
    0x23: _spec("fuel rail gauge pressure", "kPa", 2, _u16(10)),
    **{
        pid: _spec(f"O2 sensor {pid - 0x23} lambda (voltage)", "ratio", 4, _o2_wide_voltage)
        for pid in range(0x24, 0x2C)
    },
    0x2C: _spec("commanded EGR", "%", 1, _u8(PERCENT)),
    0x2D: _spec("EGR error", "%", 1, _u8(TRIM, -100)),
    0x2E: _spec("commanded evaporative purge", "%", 1, _u8(PERCENT)),
    0x2F: _spec("fuel tank level", "%", 1, _u8(PERCENT)),
    0x30: _spec("warm-ups since codes cleared", "count", 1, _u8()),
    0x31: _spec("distance since codes cleared", "km", 2, _u16()),
    0x33: _spec("barometric pressure", "kPa", 1, _u8()),
    **{
        pid: _spec(f"O2 sensor {pid - 0x33} lambda (current)", "ratio", 4, _o2_wide_current)
        for pid in range(0x34, 0x3C)
    },
    0x3C: _spec("catalyst temperature bank 1 sensor 1", "degC", 2, _u16(0.1, -40)),
    0x3D: _spec("catalyst temperature bank 2 sensor 1", "degC", 2, _u16(0.1, -40)),
    0x3E: _spec("catalyst temperature bank 1 sensor 2", "degC", 2, _u16(0.1, -40)),
    0x3F: _spec("catalyst temperature bank 2 sensor 2", "degC", 2, _u16(0.1, -40)),
    0x42: _spec("control module voltage", "V", 2, _u16(0.001)),
    0x43: _spec("absolute load", "%", 2, _u16(PERCENT)),
    0x44: _spec("commanded equivalence ratio", "ratio", 2, _u16(2 / 65536)),
    0x45: _spec("relative throttle position", "%", 1, _u8(PERCENT)),
    0x46: _spec("ambient air temperature", "degC", 1, _u8(1, -40)),
    0x47: _spec("absolute throttle position B", "%", 1, _u8(PERCENT)),
    0x49: _spec("accelerator pedal position D", "%", 1, _u8(PERCENT)),
    0x4A: _spec("accelerator pedal position E", "%", 1, _u8(PERCENT)),
    0x4C: _spec("commanded throttle actuator", "%", 1, _u8(PERCENT)),
    0x4D: _spec("time run with MIL on", "min", 2, _u16()),
    0x4E: _spec("time since codes cleared", "min", 2, _u16()),
    0x52: _spec("ethanol fuel", "%", 1, _u8(PERCENT)),
    0x5A: _spec("relative accelerator pedal position", "%", 1, _u8(PERCENT)),
    0x5B: _spec("hybrid battery remaining life", "%", 1, _u8(PERCENT)),
    0x5C: _spec("engine oil temperature", "degC", 1, _u8(1, -40)),
    0x5E: _spec("engine fuel rate", "L/h", 2, _u16(0.05)),
}

# PIDs whose value is a bit field or enumeration: profiles give their raw bytes.
RAW_SIZES: dict[int, int] = {
    0x01: 4,  # monitor status since DTCs cleared (generated from the profile's readiness)
    0x03: 2,  # fuel system status
    0x12: 1,  # commanded secondary air status
    0x13: 1,  # O2 sensors present (2 banks)
    0x1C: 1,  # OBD standards this vehicle conforms to
    0x1D: 1,  # O2 sensors present (4 banks)
    0x1E: 1,  # auxiliary input status
    0x41: 4,  # monitor status this drive cycle
    0x51: 1,  # fuel type
}


def bitmap(supported: set[int], base: int) -> bytes:
    """The 4-byte "PIDs supported [base+1 .. base+0x20]" answer.

    Bit 31 (MSB of A) is PID base+1; bit 0 (LSB of D) is base+0x20, which also says
    "the next bitmap PID is supported" — set when anything above this range is.
    """
    value = 0
    for pid in supported:
        if base < pid <= base + 0x20:
            value |= 1 << (0x20 - (pid - base))
    if any(pid > base + 0x20 for pid in supported):
        value |= 1
    return value.to_bytes(4, "big")


def encode_dtc(code: str) -> bytes:
    """`P0301` -> b"\\x03\\x01": two bits system (P/C/B/U), two bits first digit, 12 bits hex."""
    code = code.strip().upper()
    if len(code) != 5 or code[0] not in "PCBU" or code[1] not in "0123":
        raise ValueError(f"not a DTC: {code!r}")
    first = ("PCBU".index(code[0]) << 6) | (int(code[1]) << 4) | int(code[2], 16)
    return bytes([first, int(code[3:5], 16)])


_TRANSLIT = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """ISO 3779 / 49 CFR 565 check digit (position 9) of a 17-character VIN."""
    if len(vin) != 17 or any(c not in _TRANSLIT for c in vin.upper()):
        raise ValueError(f"not a VIN: {vin!r}")
    total = sum(_TRANSLIT[c] * w for c, w in zip(vin.upper(), _WEIGHTS, strict=True))
    rest = total % 11
    return "X" if rest == 10 else str(rest)


def vin_is_valid(vin: str) -> bool:
    try:
        return vin_check_digit(vin) == vin[8].upper()
    except ValueError:
        return False
