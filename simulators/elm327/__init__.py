"""ELM327 OBD2 adapter + vehicle simulator. Imports nothing of ours (see docs/design.md).

Served over TCP (`serve_tcp`), a pty (`serve_pty`) and as a fake bleak backend
(`FakeBluetooth`, `fake_ble_backend`, `fake_scanner_backend`); the sans-IO adapter is `Elm327`.
"""

from .adapters import ADAPTERS, Personality, list_adapters
from .ble import (
    BLE_ECU_MS,
    BLE_RTT_MS,
    FakeBleClient,
    FakeBluetooth,
    FakeDongle,
    demo_dongles,
    fake_ble_backend,
    fake_scanner_backend,
)
from .engine import Elm327, Quirks
from .errors import ProfileError, SimulatorError, UnknownAdapterError, UnknownFaultError, UnknownProfileError
from .faults import FAULTS, parse_faults
from .gatt import LAYOUTS, GattLayout
from .link import Simulation
from .profile import Profile, list_profiles, load_profile
from .pty import PtyServer, serve_pty
from .tcp import TcpServer, serve_tcp
from .timing import Chunk, Reply, Timing

__all__ = [
    "ADAPTERS",
    "BLE_ECU_MS",
    "BLE_RTT_MS",
    "FAULTS",
    "LAYOUTS",
    "Chunk",
    "Elm327",
    "FakeBleClient",
    "FakeBluetooth",
    "FakeDongle",
    "GattLayout",
    "Personality",
    "Profile",
    "ProfileError",
    "PtyServer",
    "Quirks",
    "Reply",
    "Simulation",
    "SimulatorError",
    "TcpServer",
    "Timing",
    "UnknownAdapterError",
    "UnknownFaultError",
    "UnknownProfileError",
    "demo_dongles",
    "fake_ble_backend",
    "fake_scanner_backend",
    "list_adapters",
    "list_profiles",
    "load_profile",
    "parse_faults",
    "serve_pty",
    "serve_tcp",
]
