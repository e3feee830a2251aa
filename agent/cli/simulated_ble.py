"""`--simulated-ble [PROFILE]` on `baygate obd ...` and `baygate run`: no radio needed.

The ELM327 simulator's fake bleak backends (`simulators/elm327/ble.py`) stand in for
BlueZ, so a user without a Pi or a dongle can try the real BLE path: discovery, the
`ble://` transport (scan by name or address, GATT layout choice, notification
reassembly), the session and the vehicle pipeline all run as they would on the radio.
Five dongles advertise (one per GATT layout; `OBDLink CX` hides its service); each is
in its own car, or every one in PROFILE. The link is a BLE link's (`BLE_RTT_MS`,
`BLE_ECU_MS`: 30 ms a round trip, the ECU 15 ms, as in `make demo`), notifications cut
at random points.

Only the CLI wires the simulator in: drivers never import simulators
(tests/test_import_rule.py); they take the backends as `ble_backend=` and
`ble_scanner_backend=` (`drivers.obd2.transports.transport_for_url`).
"""

from __future__ import annotations

import argparse
from typing import Any

from simulators.elm327 import (
    BLE_ECU_MS,
    BLE_RTT_MS,
    FakeBluetooth,
    SimulatorError,
    demo_dongles,
    list_profiles,
    load_profile,
)

__all__ = ["add_option", "backends"]


def _profile(text: str) -> str:
    """'' (the flag alone: each dongle in its own car), or a profile name or JSON path."""
    if text:
        try:
            load_profile(text)
        except SimulatorError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_option(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(d.name for d in demo_dongles())
    parser.add_argument(
        "--simulated-ble",
        nargs="?",
        const="",
        default=None,
        type=_profile,
        metavar="PROFILE",
        help=f"no radio: the ELM327 simulator's BLE dongles ({names}) answer ble:// URLs and "
        f"discovery, each in its own car, or all in PROFILE: {', '.join(list_profiles())}",
    )


def backends(args: argparse.Namespace) -> dict[str, Any]:
    """`transport_for_url` keyword arguments: the fake radio's backends, or none."""
    profile: str | None = getattr(args, "simulated_ble", None)
    if profile is None:
        return {}
    dongles = demo_dongles(profile or None, rtt_ms=BLE_RTT_MS, ecu_ms=BLE_ECU_MS, random_split=True)
    radio = FakeBluetooth(dongles)
    return {"ble_backend": radio.client, "ble_scanner_backend": radio.scanner}
