"""Vehicle profiles: JSON data files describing a car's ECUs, PIDs, DTCs and VIN.

A profile is data, not code, so a new vehicle is one file in `profiles/`. Loading
validates everything up front (PID numbers, DTC syntax, VIN check digit) so a typo
fails at start-up with the file and field named, not mid-session as a wrong reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProfileError, UnknownProfileError
from .j1979 import PIDS, RAW_SIZES, encode_dtc, vin_is_valid
from .values import Generator, parse_generator

__all__ = [
    "PROFILE_DIR",
    "Ecu",
    "FreezeFrame",
    "MonitorTest",
    "Profile",
    "list_profiles",
    "load_profile",
    "parse_profile",
]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

# Protocols a profile may run on (ELM327 numbers): J1850 PWM / VPW, ISO 9141-2, KWP2000
# 5-baud / fast, CAN 11/500, 29/500, 11/250, 29/250.
SUPPORTED_PROTOCOLS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
CAN29 = (7, 9)

SPARK_MONITORS = (
    "catalyst",
    "heated_catalyst",
    "evap",
    "secondary_air",
    "ac_refrigerant",
    "o2_sensor",
    "o2_heater",
    "egr",
)
DIESEL_MONITORS = (
    "nmhc_catalyst",
    "nox_scr",
    "reserved_2",
    "boost_pressure",
    "reserved_4",
    "exhaust_gas_sensor",
    "pm_filter",
    "egr_vvt",
)
COMMON_MONITORS = ("misfire", "fuel_system", "components")
MONITOR_STATES = ("complete", "incomplete", "not_supported")


@dataclass(frozen=True)
class FreezeFrame:
    """One Mode 02 frame: the DTC that froze it and the PID values at that moment."""

    number: int
    dtc: str
    values: dict[int, Generator]


@dataclass(frozen=True)
class MonitorTest:
    """One Mode 06 test result as the ECU stores it: raw 16-bit value and limits."""

    mid: int
    tid: int
    uas: int
    value: int
    min: int
    max: int


@dataclass
class Ecu:
    """One responding control unit. DTC lists are mutable: Mode 04 clears them."""

    name: str
    can_id: int
    iso_address: int
    ignition: str
    pids: dict[int, Generator]
    raw_pids: dict[int, bytes]
    monitors: dict[str, str]
    stored: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)
    freeze_frames: list[FreezeFrame] = field(default_factory=list)
    mil: bool | None = None
    reports_vin: bool = False
    calibration_ids: list[str] = field(default_factory=list)
    cvns: list[str] = field(default_factory=list)  # Mode 09 PID 06, 8 hex digits per CALID
    ecu_name: str = ""  # Mode 09 PID 0A, e.g. "ECM-EngineControl"
    monitor_tests: list[MonitorTest] = field(default_factory=list)  # Mode 06 (CAN only)
    negative_unsupported_pids: bool = False
    answers_unsupported_services: bool = False
    latency_ms: float = 0.0  # on top of the timing model's ecu_ms

    @property
    def mode01(self) -> set[int]:
        return {0x01, *self.pids, *self.raw_pids}


@dataclass
class Profile:
    name: str
    description: str
    protocol: int
    vin: str
    battery_v: Generator
    ecus: list[Ecu]
    can_padding: int = 0x55
    # What the VIN decodes to (make, model, model year): the NHTSA simulator must agree.
    make: str = ""
    model: str = ""
    year: int = 0


def _hexnum(text: Any, where: str, top: int) -> int:
    try:
        value = int(str(text), 16)
    except ValueError as exc:
        raise ProfileError(f"{where}: not a hex number: {text!r}") from exc
    if not 0 <= value <= top:
        raise ProfileError(f"{where}: {text!r} out of range")
    return value


def _dtcs(raw: Any, where: str) -> list[str]:
    out = []
    for code in raw or []:
        try:
            encode_dtc(code)
        except (ValueError, TypeError) as exc:
            raise ProfileError(f"{where}: {exc}") from exc
        out.append(str(code).upper())
    return out


def _pids(raw: dict[str, Any], where: str) -> tuple[dict[int, Generator], dict[int, bytes]]:
    live: dict[int, Generator] = {}
    fixed: dict[int, bytes] = {}
    for key, spec in raw.items():
        pid = _hexnum(key, where, 0xFF)
        if isinstance(spec, dict) and "raw" in spec:
            data = bytes.fromhex(spec["raw"])
            if pid in RAW_SIZES and len(data) != RAW_SIZES[pid]:
                raise ProfileError(f"{where}.{key}: PID {pid:02X} takes {RAW_SIZES[pid]} raw bytes")
            fixed[pid] = data
        elif pid in PIDS:
            live[pid] = parse_generator(spec, f"{where}.{key}")
        else:
            raise ProfileError(f"{where}.{key}: PID {pid:02X} has no encoder; give {{'raw': 'hex'}}")
    return live, fixed


def _monitors(raw: dict[str, str], ignition: str, where: str) -> dict[str, str]:
    names = COMMON_MONITORS + (SPARK_MONITORS if ignition == "spark" else DIESEL_MONITORS)
    out = dict.fromkeys(names, "not_supported")
    for name, state in raw.items():
        if name not in names or state not in MONITOR_STATES:
            raise ProfileError(f"{where}: monitor {name}={state!r} (known: {', '.join(names)})")
        out[name] = state
    return out


def _cvn(text: Any, where: str) -> str:
    _hexnum(text, where, 0xFFFFFFFF)
    if len(str(text)) != 8:
        raise ProfileError(f"{where}: a CVN is 8 hex digits, got {text!r}")
    return str(text).upper()


def _monitor_test(raw: dict[str, Any], where: str) -> MonitorTest:
    try:
        return MonitorTest(
            mid=_hexnum(raw["mid"], f"{where}.mid", 0xFF),
            tid=_hexnum(raw["tid"], f"{where}.tid", 0xFF),
            uas=_hexnum(raw["uas"], f"{where}.uas", 0xFF),
            value=_word(raw["value"], f"{where}.value"),
            min=_word(raw.get("min", 0), f"{where}.min"),
            max=_word(raw.get("max", 0xFFFF), f"{where}.max"),
        )
    except KeyError as exc:
        raise ProfileError(f"{where}: missing {exc}") from exc


def _word(value: Any, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ProfileError(f"{where}: a raw 16-bit value (0-65535), got {value!r}")
    return value


def _ecu(raw: dict[str, Any], where: str, protocol: int = 6) -> Ecu:
    ignition = raw.get("ignition", "spark")
    if ignition not in ("spark", "compression"):
        raise ProfileError(f"{where}.ignition: spark or compression, got {ignition!r}")
    live, fixed = _pids(raw.get("pids", {}), f"{where}.pids")
    dtcs = raw.get("dtcs", {})
    frames = [
        FreezeFrame(
            number=int(f.get("frame", 0)),
            dtc=_dtcs([f["dtc"]], f"{where}.freeze_frames")[0],
            values=_pids(f.get("pids", {}), f"{where}.freeze_frames")[0],
        )
        for f in raw.get("freeze_frames", [])
    ]
    return Ecu(
        name=str(raw.get("name", "ecu")),
        # 29-bit: 18 DA F1 <ECU address> (ISO 15765-4 normal fixed addressing).
        can_id=_hexnum(
            raw.get("can_id", "18DAF1" + str(raw.get("iso_address", "10")) if protocol in CAN29 else "7E8"),
            f"{where}.can_id",
            0x1FFFFFFF if protocol in CAN29 else 0x7FF,
        ),
        iso_address=_hexnum(raw.get("iso_address", "10"), f"{where}.iso_address", 0xFF),
        ignition=ignition,
        pids=live,
        raw_pids=fixed,
        monitors=_monitors(raw.get("readiness", {}), ignition, f"{where}.readiness"),
        stored=_dtcs(dtcs.get("stored"), f"{where}.dtcs.stored"),
        pending=_dtcs(dtcs.get("pending"), f"{where}.dtcs.pending"),
        permanent=_dtcs(dtcs.get("permanent"), f"{where}.dtcs.permanent"),
        freeze_frames=frames,
        mil=raw.get("mil"),
        reports_vin=bool(raw.get("reports_vin", False)),
        calibration_ids=[str(c) for c in raw.get("calibration_ids", [])],
        cvns=[_cvn(c, f"{where}.cvns") for c in raw.get("cvns", [])],
        ecu_name=str(raw.get("ecu_name", ""))[:20],
        monitor_tests=[
            _monitor_test(t, f"{where}.monitor_tests[{i}]")
            for i, t in enumerate(raw.get("monitor_tests", []))
        ],
        negative_unsupported_pids=bool(raw.get("negative_unsupported_pids", False)),
        answers_unsupported_services=bool(raw.get("answers_unsupported_services", False)),
        latency_ms=float(raw.get("latency_ms", 0.0)),
    )


def parse_profile(raw: dict[str, Any], where: str = "profile") -> Profile:
    """Build a Profile from its JSON object, raising ProfileError on anything wrong."""
    try:
        protocol = int(str(raw.get("protocol", "6")), 16)
        vin = str(raw["vin"]).upper()
        ecus = [_ecu(e, f"{where}.ecus[{i}]", protocol) for i, e in enumerate(raw["ecus"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: missing or malformed field: {exc}") from exc
    if protocol not in SUPPORTED_PROTOCOLS:
        raise ProfileError(f"{where}.protocol: {protocol:X} not simulated (1-9)")
    if not vin_is_valid(vin):
        raise ProfileError(f"{where}.vin: {vin!r} fails the ISO 3779 check digit")
    if not ecus:
        raise ProfileError(f"{where}.ecus: at least one ECU")
    return Profile(
        name=str(raw.get("name", where)),
        description=str(raw.get("description", "")),
        protocol=protocol,
        vin=vin,
        battery_v=parse_generator(raw.get("battery_v", 12.6), f"{where}.battery_v"),
        ecus=ecus,
        can_padding=_hexnum(raw.get("can_padding", "55"), f"{where}.can_padding", 0xFF),
        make=str(raw.get("make", "")),
        model=str(raw.get("model", "")),
        year=int(raw.get("year", 0)),
    )


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A bundled profile by name (`petrol-can`) or any JSON file by path. Fresh each call."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.json"
        if not path.exists():
            known = ", ".join(list_profiles())
            raise UnknownProfileError(f"no profile {name_or_path!r} (known: {known})")
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    return parse_profile(raw, path.stem)
