"""Diagnostic trouble codes: Mode 03 (stored), 07 (pending), 0A (permanent).

Two bytes per DTC: the top two bits pick the system (P powertrain, C chassis, B body,
U network), the next two the first digit (0-3), then three hex digits. On CAN the
first data byte after the service byte is the number of DTCs; legacy protocols send
no count and pad each 3-DTC message with 0000. The parity of the data length tells
them apart: after the service byte, CAN data is 1 + 2n bytes, legacy data 2n.

Descriptions for generic SAE J2012 P0xxx/P2xxx codes come from dtc_descriptions.csv,
written by the Baygate team from general knowledge of those code families (no third-
party table copied; project licence). Manufacturer-specific codes have no description.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from drivers.obd2.errors import DecodeError

__all__ = ["DTC", "decode_dtc", "decode_dtc_messages", "describe"]

_SYSTEM = "PCBU"


@dataclass(frozen=True)
class DTC:
    code: str
    ecu: str = ""

    @property
    def description(self) -> str | None:
        return describe(self.code)


def decode_dtc(two: bytes) -> str:
    """`01 33` -> `P0133`."""
    if len(two) != 2:
        raise DecodeError(f"a DTC is 2 bytes, got {len(two)}")
    a, b = two
    return f"{_SYSTEM[a >> 6]}{(a >> 4) & 0x03}{a & 0x0F:X}{b:02X}"


def decode_dtc_messages(messages: list[bytes], ecu: str = "") -> list[DTC]:
    """DTCs from the messages one ECU sent for a Mode 03/07/0A request."""
    out: list[DTC] = []
    for msg in messages:
        if len(msg) < 1 or msg[0] not in (0x43, 0x47, 0x4A):
            raise DecodeError(f"not a DTC reply: {msg.hex()}")
        data = msg[1:]
        if len(data) % 2:  # CAN: count byte first
            count, data = data[0], data[1:]
            if len(data) != 2 * count:
                raise DecodeError(f"DTC count says {count}, data holds {len(data) // 2}")
        for i in range(0, len(data), 2):
            pair = data[i : i + 2]
            if pair == b"\x00\x00":
                continue  # legacy padding
            code = decode_dtc(pair)
            if not any(d.code == code for d in out):
                out.append(DTC(code, ecu))
    return out


@cache
def _descriptions() -> dict[str, str]:
    text = resources.files("drivers.obd2").joinpath("dtc_descriptions.csv").read_text("utf-8")
    return {row["code"]: row["description"] for row in csv.DictReader(io.StringIO(text))}


def describe(code: str) -> str | None:
    """A short description of a generic code, or None (manufacturer-specific/unknown)."""
    return _descriptions().get(code.upper())
