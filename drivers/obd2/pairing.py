"""The QR pairing payload on a shop dongle's sticker.

    BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE:FF;layout=fff0;name=Bay%203%20Vgate;bay=3

- `BAYGATE:DONGLE:` is the fixed prefix (the camera pipeline classifies QR payloads by it);
- `v1` the payload version; unknown versions are refused, not guessed;
- fields are `key=value` separated by `;`, values percent-encoded (`%3B` for `;`);
- `addr` (required): the BLE MAC address, 6 hex pairs separated by `:`;
- `layout` (optional): fff0, ffe0, 18f0, e781 or nus (see transports/gatt.py), or a
  service UUID - it saves the characteristic guess on dongles with odd GATT tables;
- `name`, `bay` (optional): shown to the technician; unknown keys are ignored so v1
  readers accept stickers printed by later v1 writers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from drivers.obd2.errors import PairingError
from drivers.obd2.transports.gatt import layout_for_service

__all__ = ["PREFIX", "DonglePairing", "format_pairing", "is_pairing_payload", "parse_pairing"]

PREFIX = "BAYGATE:DONGLE:"
_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_UUID = re.compile(r"^[0-9a-f]{4}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX = 512  # a QR sticker holds far less; longer is not a dongle payload


@dataclass(frozen=True)
class DonglePairing:
    address: str
    layout: str | None = None
    name: str | None = None
    bay: str | None = None

    @property
    def url(self) -> str:
        """The dongle URL for config/`baygate obd read --url`."""
        return f"ble://{self.address}" + (f"?layout={self.layout}" if self.layout else "")


def is_pairing_payload(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_pairing(text: str) -> DonglePairing:
    """Parse a sticker payload. Raises PairingError naming what is wrong."""
    if not is_pairing_payload(text):
        raise PairingError(f"not a dongle pairing payload (expected prefix {PREFIX!r})")
    if len(text) > _MAX:
        raise PairingError(f"pairing payload longer than {_MAX} characters")
    version, _, rest = text[len(PREFIX) :].partition(";")
    if version != "v1":
        raise PairingError(f"unsupported pairing payload version {version!r} (this agent reads v1)")
    fields: dict[str, str] = {}
    for part in filter(None, rest.split(";")):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise PairingError(f"pairing field {part!r} is not key=value")
        fields[key.strip().lower()] = unquote(value.strip())
    addr = fields.get("addr", "").upper().replace("-", ":")
    if not _MAC.match(addr):
        raise PairingError(f"pairing payload needs addr=AA:BB:CC:DD:EE:FF, got {fields.get('addr')!r}")
    layout = fields.get("layout", "").lower() or None
    if layout is not None and layout_for_service(layout) is None and not _UUID.match(layout):
        raise PairingError(f"unknown dongle layout {layout!r}")
    return DonglePairing(addr, layout, fields.get("name") or None, fields.get("bay") or None)


def format_pairing(p: DonglePairing) -> str:
    """The payload to print on a sticker for `p`."""
    parts = [f"{PREFIX}v1", f"addr={p.address}"]
    for key, value in (("layout", p.layout), ("name", p.name), ("bay", p.bay)):
        if value:
            parts.append(f"{key}={quote(value, safe='')}")
    return ";".join(parts)
