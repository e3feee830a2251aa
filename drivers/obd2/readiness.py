"""Mode 01 PID 01: MIL, stored DTC count and readiness monitors (SAE J1979).

Byte A: bit 7 MIL on, bits 0-6 the number of confirmed emission DTCs.
Byte B: bit 3 ignition (0 spark, 1 compression); bits 0-2 continuous monitors
supported (misfire, fuel system, components), bits 4-6 the same monitors *incomplete*.
Bytes C/D: the non-continuous monitors supported / incomplete; their meaning
depends on the ignition type. Note the inversion: a set "incomplete" bit means NOT ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.obd2.errors import DecodeError

__all__ = ["ReadinessStatus", "decode_readiness"]

_CONTINUOUS = ("misfire", "fuel_system", "components")
_SPARK = (
    "catalyst",
    "heated_catalyst",
    "evaporative_system",
    "secondary_air_system",
    "ac_refrigerant",
    "oxygen_sensor",
    "oxygen_sensor_heater",
    "egr_system",
)
_COMPRESSION = (
    "nmhc_catalyst",
    "nox_scr_monitor",
    "",
    "boost_pressure",
    "",
    "exhaust_gas_sensor",
    "pm_filter",
    "egr_vvt_system",
)


@dataclass(frozen=True)
class ReadinessStatus:
    mil: bool
    dtc_count: int
    ignition: str  # "spark" | "compression"
    monitors: dict[str, dict[str, bool]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "mil": self.mil,
            "dtc_count": self.dtc_count,
            "ignition": self.ignition,
            "monitors": self.monitors,
        }


def decode_readiness(data: bytes) -> ReadinessStatus:
    """Decode the 4 data bytes of a `41 01` reply."""
    if len(data) != 4:
        raise DecodeError(f"readiness (0101) needs 4 bytes, got {len(data)}")
    a, b, c, d = data
    compression = bool(b & 0x08)
    monitors: dict[str, dict[str, bool]] = {}
    for i, name in enumerate(_CONTINUOUS):
        supported = bool(b & (1 << i))
        monitors[name] = {"supported": supported, "complete": supported and not b & (1 << (i + 4))}
    for i, name in enumerate(_COMPRESSION if compression else _SPARK):
        if not name:
            continue
        supported = bool(c & (1 << i))
        monitors[name] = {"supported": supported, "complete": supported and not d & (1 << i)}
    return ReadinessStatus(
        mil=bool(a & 0x80),
        dtc_count=a & 0x7F,
        ignition="compression" if compression else "spark",
        monitors=monitors,
    )
