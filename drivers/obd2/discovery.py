"""Find BLE OBD dongles nearby: name, address, RSSI and the GATT layout they advertise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.exc import BleakError

from drivers.obd2.errors import TransportError
from drivers.obd2.transports.ble import scan_failure
from drivers.obd2.transports.gatt import layout_for_service

__all__ = ["Candidate", "discover"]

# Advertised names of common OBD dongles (many advertise no service UUID at all).
_OBD_NAME = re.compile(r"OBD|ELM|VLINK|V-LINK|VGATE|ICAR|VEEPEAK|KONNWEI|CARISTA|LELINK|OBDLINK", re.I)


@dataclass(frozen=True)
class Candidate:
    name: str | None
    address: str
    rssi: int | None
    layout: str | None  # fff0, ffe0, ... when an advertised service matches a known layout

    @property
    def url(self) -> str:
        return f"ble://{self.address}" + (f"?layout={self.layout}" if self.layout else "")


async def discover(seconds: float = 5.0, *, backend: Any = None, everything: bool = False) -> list[Candidate]:
    """Scan for `seconds` s; OBD-looking devices (known layout or name), strongest first."""
    kwargs: dict[str, Any] = {"backend": backend} if backend is not None else {}
    try:
        found = await BleakScanner.discover(seconds, return_adv=True, **kwargs)
    except (BleakError, OSError) as exc:
        raise TransportError(scan_failure(exc)) from exc
    out = []
    for address, (device, adv) in found.items():
        name = adv.local_name or device.name
        layout = next(
            (lay.name for u in adv.service_uuids if (lay := layout_for_service(u)) is not None), None
        )
        if everything or layout or (name and _OBD_NAME.search(name)):
            out.append(Candidate(name, address, adv.rssi, layout))
    out.sort(key=lambda c: -(c.rssi if c.rssi is not None else -999))
    return out
