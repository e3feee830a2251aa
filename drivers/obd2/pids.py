"""Mode 01 (and Mode 02 freeze-frame) PIDs: names, sizes, units and decoders (SAE J1979).

Names follow the widely used python-OBD spellings (RPM, SPEED, COOLANT_TEMP, ...) so
users of that library find their way; the formulas are J1979's. Units are plain
strings (SI-ish, as J1979 states them). Sizes matter beyond decoding: a batched reply
(`41 0C 1A F8 0D 32 ...`) can only be split with each PID's data length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drivers.obd2.errors import DecodeError

__all__ = [
    "BY_CODE",
    "BY_NAME",
    "PID",
    "Value",
    "decode_batch",
    "lookup",
    "supported_from_bitmap",
]

Value = float | int | str | bool | None


@dataclass(frozen=True)
class PID:
    code: int
    name: str
    size: int  # data bytes after the PID byte
    unit: str | None
    decode: Callable[[bytes], Value]
    description: str = ""

    def value(self, data: bytes) -> Value:
        if len(data) != self.size:
            raise DecodeError(f"{self.name}: expected {self.size} bytes, got {len(data)}")
        return self.decode(data)


def _u16(d: bytes) -> int:
    return (d[0] << 8) | d[1]


def _pct(d: bytes) -> float:
    return round(d[0] * 100 / 255, 2)


def _temp(d: bytes) -> int:
    return d[0] - 40


def _trim(d: bytes) -> float:
    return round((d[0] - 128) * 100 / 128, 2)


def _raw(d: bytes) -> str:
    return d.hex().upper()


def _o2_volt(d: bytes) -> float:
    return d[0] / 200


def _lambda(d: bytes) -> float:
    return round(_u16(d) * 2 / 65536, 4)


def _cat_temp(d: bytes) -> float:
    return round(_u16(d) / 10 - 40, 1)


def _signed16(d: bytes) -> int:
    v = _u16(d)
    return v - 0x10000 if v & 0x8000 else v


_FUEL_STATUS = {
    0: "off",
    1: "open loop (temperature)",
    2: "closed loop",
    4: "open loop (load or decel)",
    8: "open loop (fault)",
    16: "closed loop (feedback fault)",
}
_AIR_STATUS = {1: "upstream", 2: "downstream of catalyst", 4: "from outside or off", 8: "pump diagnostics"}
_FUEL_TYPES = [
    "not available", "gasoline", "methanol", "ethanol", "diesel", "LPG", "CNG", "propane",
    "electric", "bifuel gasoline", "bifuel methanol", "bifuel ethanol", "bifuel LPG", "bifuel CNG",
    "bifuel propane", "bifuel electric", "bifuel electric/combustion", "hybrid gasoline",
    "hybrid ethanol", "hybrid diesel", "hybrid electric", "hybrid electric/combustion",
    "hybrid regenerative", "bifuel diesel",
]  # fmt: skip


def _fuel_status(d: bytes) -> str:
    return _FUEL_STATUS.get(d[0], f"0x{d[0]:02X}")


def _enum(table: dict[int, str]) -> Callable[[bytes], str]:
    return lambda d: table.get(d[0], f"0x{d[0]:02X}")


def _fuel_type(d: bytes) -> str:
    return _FUEL_TYPES[d[0]] if d[0] < len(_FUEL_TYPES) else f"0x{d[0]:02X}"


_TABLE: list[PID] = [
    PID(0x00, "PIDS_A", 4, None, _raw, "supported PIDs 01-20"),
    PID(0x01, "STATUS", 4, None, _raw, "MIL, DTC count, readiness monitors"),
    PID(0x02, "FREEZE_DTC", 2, None, _raw, "DTC that stored the freeze frame"),
    PID(0x03, "FUEL_STATUS", 2, None, _fuel_status, "fuel system 1 status"),
    PID(0x04, "ENGINE_LOAD", 1, "%", _pct, "calculated engine load"),
    PID(0x05, "COOLANT_TEMP", 1, "degC", _temp, "engine coolant temperature"),
    PID(0x06, "SHORT_FUEL_TRIM_1", 1, "%", _trim, "short term fuel trim bank 1"),
    PID(0x07, "LONG_FUEL_TRIM_1", 1, "%", _trim, "long term fuel trim bank 1"),
    PID(0x08, "SHORT_FUEL_TRIM_2", 1, "%", _trim, "short term fuel trim bank 2"),
    PID(0x09, "LONG_FUEL_TRIM_2", 1, "%", _trim, "long term fuel trim bank 2"),
    PID(0x0A, "FUEL_PRESSURE", 1, "kPa", lambda d: d[0] * 3, "fuel pressure (gauge)"),
    PID(0x0B, "INTAKE_PRESSURE", 1, "kPa", lambda d: d[0], "intake manifold absolute pressure"),
    PID(0x0C, "RPM", 2, "rpm", lambda d: _u16(d) / 4, "engine speed"),
    PID(0x0D, "SPEED", 1, "km/h", lambda d: d[0], "vehicle speed"),
    PID(0x0E, "TIMING_ADVANCE", 1, "deg", lambda d: d[0] / 2 - 64, "timing advance before TDC"),
    PID(0x0F, "INTAKE_TEMP", 1, "degC", _temp, "intake air temperature"),
    PID(0x10, "MAF", 2, "g/s", lambda d: _u16(d) / 100, "mass air flow rate"),
    PID(0x11, "THROTTLE_POS", 1, "%", _pct, "absolute throttle position"),
    PID(0x12, "AIR_STATUS", 1, None, _enum(_AIR_STATUS), "commanded secondary air status"),
    PID(0x13, "O2_SENSORS", 1, None, _raw, "oxygen sensors present (2 banks)"),
    *[
        PID(0x14 + i, f"O2_B{1 + i // 4}S{1 + i % 4}", 2, "V", _o2_volt, "oxygen sensor voltage")
        for i in range(8)
    ],
    PID(0x1C, "OBD_COMPLIANCE", 1, None, lambda d: d[0], "OBD standard this vehicle conforms to"),
    PID(0x1D, "O2_SENSORS_ALT", 1, None, _raw, "oxygen sensors present (4 banks)"),
    PID(0x1E, "AUX_INPUT_STATUS", 1, None, lambda d: bool(d[0] & 1), "power take-off active"),
    PID(0x1F, "RUN_TIME", 2, "s", _u16, "run time since engine start"),
    PID(0x20, "PIDS_B", 4, None, _raw, "supported PIDs 21-40"),
    PID(0x21, "DISTANCE_W_MIL", 2, "km", _u16, "distance travelled with MIL on"),
    PID(0x22, "FUEL_RAIL_PRESSURE_VAC", 2, "kPa", lambda d: round(_u16(d) * 0.079, 3), "fuel rail pressure"),
    PID(0x23, "FUEL_RAIL_PRESSURE_DIRECT", 2, "kPa", lambda d: _u16(d) * 10, "fuel rail gauge pressure"),
    *[
        PID(0x24 + i, f"O2_S{1 + i}_WR_VOLTAGE", 4, "ratio", _lambda, "wide-range O2 sensor lambda")
        for i in range(8)
    ],
    PID(0x2C, "COMMANDED_EGR", 1, "%", _pct, "commanded EGR"),
    PID(0x2D, "EGR_ERROR", 1, "%", _trim, "EGR error"),
    PID(0x2E, "EVAPORATIVE_PURGE", 1, "%", _pct, "commanded evaporative purge"),
    PID(0x2F, "FUEL_LEVEL", 1, "%", _pct, "fuel tank level input"),
    PID(0x30, "WARMUPS_SINCE_DTC_CLEAR", 1, "count", lambda d: d[0], "warm-ups since codes cleared"),
    PID(0x31, "DISTANCE_SINCE_DTC_CLEAR", 2, "km", _u16, "distance since codes cleared"),
    PID(0x32, "EVAP_VAPOR_PRESSURE", 2, "Pa", lambda d: _signed16(d) / 4, "evap system vapour pressure"),
    PID(0x33, "BAROMETRIC_PRESSURE", 1, "kPa", lambda d: d[0], "absolute barometric pressure"),
    *[
        PID(
            0x34 + i,
            f"O2_S{1 + i}_WR_CURRENT",
            4,
            "mA",
            lambda d: round(_u16(d[2:]) / 256 - 128, 3),
            "wide-range O2 sensor current",
        )
        for i in range(8)
    ],
    PID(0x3C, "CATALYST_TEMP_B1S1", 2, "degC", _cat_temp, "catalyst temperature bank 1 sensor 1"),
    PID(0x3D, "CATALYST_TEMP_B2S1", 2, "degC", _cat_temp, "catalyst temperature bank 2 sensor 1"),
    PID(0x3E, "CATALYST_TEMP_B1S2", 2, "degC", _cat_temp, "catalyst temperature bank 1 sensor 2"),
    PID(0x3F, "CATALYST_TEMP_B2S2", 2, "degC", _cat_temp, "catalyst temperature bank 2 sensor 2"),
    PID(0x40, "PIDS_C", 4, None, _raw, "supported PIDs 41-60"),
    PID(0x41, "STATUS_DRIVE_CYCLE", 4, None, _raw, "monitor status this drive cycle"),
    PID(0x42, "CONTROL_MODULE_VOLTAGE", 2, "V", lambda d: _u16(d) / 1000, "control module voltage"),
    PID(0x43, "ABSOLUTE_LOAD", 2, "%", lambda d: round(_u16(d) * 100 / 255, 2), "absolute load value"),
    PID(0x44, "COMMANDED_EQUIV_RATIO", 2, "ratio", _lambda, "commanded air-fuel equivalence ratio"),
    PID(0x45, "RELATIVE_THROTTLE_POS", 1, "%", _pct, "relative throttle position"),
    PID(0x46, "AMBIANT_AIR_TEMP", 1, "degC", _temp, "ambient air temperature"),
    PID(0x47, "THROTTLE_POS_B", 1, "%", _pct, "absolute throttle position B"),
    PID(0x48, "THROTTLE_POS_C", 1, "%", _pct, "absolute throttle position C"),
    PID(0x49, "ACCELERATOR_POS_D", 1, "%", _pct, "accelerator pedal position D"),
    PID(0x4A, "ACCELERATOR_POS_E", 1, "%", _pct, "accelerator pedal position E"),
    PID(0x4B, "ACCELERATOR_POS_F", 1, "%", _pct, "accelerator pedal position F"),
    PID(0x4C, "THROTTLE_ACTUATOR", 1, "%", _pct, "commanded throttle actuator"),
    PID(0x4D, "RUN_TIME_MIL", 2, "min", _u16, "time run with MIL on"),
    PID(0x4E, "TIME_SINCE_DTC_CLEARED", 2, "min", _u16, "time since codes cleared"),
    PID(0x4F, "MAX_VALUES", 4, None, _raw, "maximum equivalence ratio, O2 voltage/current, MAP"),
    PID(0x50, "MAX_MAF", 4, "g/s", lambda d: d[0] * 10, "maximum MAF rate"),
    PID(0x51, "FUEL_TYPE", 1, None, _fuel_type, "fuel type"),
    PID(0x52, "ETHANOL_PERCENT", 1, "%", _pct, "ethanol fuel percentage"),
    PID(0x53, "EVAP_VAPOR_PRESSURE_ABS", 2, "kPa", lambda d: _u16(d) / 200, "absolute evap vapour pressure"),
    PID(0x54, "EVAP_VAPOR_PRESSURE_ALT", 2, "Pa", _signed16, "evap system vapour pressure"),
    PID(0x55, "SHORT_O2_TRIM_B1", 2, "%", _trim, "short term secondary O2 trim bank 1"),
    PID(0x56, "LONG_O2_TRIM_B1", 2, "%", _trim, "long term secondary O2 trim bank 1"),
    PID(0x57, "SHORT_O2_TRIM_B2", 2, "%", _trim, "short term secondary O2 trim bank 2"),
    PID(0x58, "LONG_O2_TRIM_B2", 2, "%", _trim, "long term secondary O2 trim bank 2"),
    PID(0x59, "FUEL_RAIL_PRESSURE_ABS", 2, "kPa", lambda d: _u16(d) * 10, "fuel rail absolute pressure"),
    PID(0x5A, "RELATIVE_ACCEL_POS", 1, "%", _pct, "relative accelerator pedal position"),
    PID(0x5B, "HYBRID_BATTERY_REMAINING", 1, "%", _pct, "hybrid battery pack remaining life"),
    PID(0x5C, "OIL_TEMP", 1, "degC", _temp, "engine oil temperature"),
    PID(0x5D, "FUEL_INJECT_TIMING", 2, "deg", lambda d: round(_u16(d) / 128 - 210, 3), "injection timing"),
    PID(0x5E, "FUEL_RATE", 2, "L/h", lambda d: _u16(d) / 20, "engine fuel rate"),
    PID(0x5F, "EMISSION_REQ", 1, None, lambda d: d[0], "emission requirements the vehicle meets"),
    PID(0x60, "PIDS_D", 4, None, _raw, "supported PIDs 61-80"),
    PID(0x61, "DRIVER_DEMAND_TORQUE", 1, "%", lambda d: d[0] - 125, "driver's demand engine torque"),
    PID(0x62, "ACTUAL_TORQUE", 1, "%", lambda d: d[0] - 125, "actual engine torque"),
    PID(0x63, "REFERENCE_TORQUE", 2, "Nm", _u16, "engine reference torque"),
    PID(0x80, "PIDS_E", 4, None, _raw, "supported PIDs 81-A0"),
    PID(0xA0, "PIDS_F", 4, None, _raw, "supported PIDs A1-C0"),
    PID(0xC0, "PIDS_G", 4, None, _raw, "supported PIDs C1-E0"),
]

BY_CODE: dict[int, PID] = {p.code: p for p in _TABLE}
BY_NAME: dict[str, PID] = {p.name: p for p in _TABLE}


def lookup(name_or_code: str) -> PID:
    """A PID by name (`RPM`) or hex code (`0C`, `010C`)."""
    key = name_or_code.strip().upper()
    if key in BY_NAME:
        return BY_NAME[key]
    try:
        code = int(key[-2:], 16) if len(key) in (2, 4) else -1
    except ValueError:
        code = -1
    if code in BY_CODE:
        return BY_CODE[code]
    raise DecodeError(f"unknown PID {name_or_code!r}")


def supported_from_bitmap(base: int, data: bytes) -> set[int]:
    """PIDs flagged in a 4-byte support bitmap answering PID `base` (0x00, 0x20, ...)."""
    if len(data) != 4:
        raise DecodeError(f"support bitmap must be 4 bytes, got {len(data)}")
    bits = int.from_bytes(data, "big")
    return {base + i + 1 for i in range(32) if bits & (1 << (31 - i))}


def decode_batch(data: bytes, per_pid_extra: int = 0) -> list[tuple[PID, bytes]]:
    """Split the data of a (possibly batched) Mode 01/02 reply after its service byte.

    `per_pid_extra` is 1 for Mode 02, whose replies repeat the frame number after each
    PID. Raises DecodeError on an unknown PID (its size, hence the rest, is unknown) or
    a truncated value.
    """
    out: list[tuple[PID, bytes]] = []
    i = 0
    while i < len(data):
        code = data[i]
        pid = BY_CODE.get(code)
        if pid is None:
            raise DecodeError(f"unknown PID 0x{code:02X} in reply; cannot split the rest")
        start = i + 1 + per_pid_extra
        end = start + pid.size
        if end > len(data):
            raise DecodeError(f"{pid.name}: reply truncated ({len(data) - start} of {pid.size} bytes)")
        out.append((pid, data[start:end]))
        i = end
    return out
