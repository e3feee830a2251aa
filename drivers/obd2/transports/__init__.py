"""Transports to an ELM327 and the URL that names one.

tcp://HOST:PORT                 Wi-Fi dongles, the simulator
serial:///dev/ttyUSB0[?baud=N]  USB adapters, a pty (auto-baud without ?baud)
ble://AA:BB:CC:DD:EE:FF[?layout=fff0]   BLE dongle by address
ble://name=OBDII[&layout=fff0]          BLE dongle by advertised name
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from drivers.obd2.errors import BadURL
from drivers.obd2.transports.base import Transport
from drivers.obd2.transports.ble import BleTransport
from drivers.obd2.transports.serial import SerialTransport
from drivers.obd2.transports.tcp import TcpTransport

__all__ = ["BleTransport", "SerialTransport", "TcpTransport", "Transport", "transport_for_url"]


def transport_for_url(url: str, *, ble_backend: Any = None, ble_scanner_backend: Any = None) -> Transport:
    """The transport for a dongle URL. Raises BadURL with what was expected."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise BadURL(f"{url!r}: expected tcp://host:port, serial:///dev/ttyX or ble://ADDRESS")
    scheme = scheme.lower()
    if scheme == "tcp":
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise BadURL(f"{url!r}: expected tcp://host:port")
        return TcpTransport(parts.hostname, port)
    if scheme == "serial":
        path, _, query = rest.partition("?")
        if not path.startswith("/"):
            raise BadURL(f"{url!r}: expected serial:///dev/ttyUSB0 (an absolute device path)")
        baud = parse_qs(query).get("baud", [None])[0]
        if baud is not None and not baud.isdigit():
            raise BadURL(f"{url!r}: baud must be a number")
        return SerialTransport(path, int(baud) if baud else None)
    if scheme == "ble":
        return _ble(url, rest, ble_backend, ble_scanner_backend)
    raise BadURL(f"{url!r}: unknown scheme {scheme!r} (tcp, serial, ble)")


def _ble(url: str, rest: str, backend: Any, scanner_backend: Any) -> BleTransport:
    target, _, query = rest.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if target.startswith("name="):
        # ble://name=NAME&layout=... also accepted (no '?' needed after a name)
        name, _, extra = target[5:].partition("&")
        params.update({k: v[0] for k, v in parse_qs(extra).items()})
        if not name:
            raise BadURL(f"{url!r}: empty BLE name")
        return BleTransport(
            name=name, layout=params.get("layout"), backend=backend, scanner_backend=scanner_backend
        )
    address = target.strip("/").upper()
    if not address:
        raise BadURL(f"{url!r}: expected ble://AA:BB:CC:DD:EE:FF or ble://name=NAME")
    return BleTransport(
        address, layout=params.get("layout"), backend=backend, scanner_backend=scanner_backend
    )
