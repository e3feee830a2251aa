"""pyserial URL handlers (`serial.protocol_handler_packages`): `ble://` for python-OBD.

    from drivers.obd2.urlhandler import register
    register()                       # or register(backend=Fake, scanner_backend=FakeScanner)
    connection = obd.OBD("ble://AA:BB:CC:DD:EE:FF")

pyserial resolves a URL `SCHEME://...` by importing `<package>.protocol_SCHEME` for each
registered package and using its `Serial` class; ours runs our BLE transport (scan,
characteristic choice, chunked writes, notification reassembly) behind pyserial's
blocking API.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register", "settings"]

# Backends for the handler: pyserial constructs Serial from the URL alone, so the
# fake backends of tests reach it through here.
settings: dict[str, Any] = {"backend": None, "scanner_backend": None}


def register(*, backend: Any = None, scanner_backend: Any = None) -> None:
    """Make `serial.serial_for_url("ble://...")` (hence python-OBD) use our BLE transport."""
    import serial

    settings["backend"] = backend
    settings["scanner_backend"] = scanner_backend
    if __name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(__name__)
