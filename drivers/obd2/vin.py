"""VIN (Mode 09 PID 02) and calibration IDs (Mode 09 PID 04), with the check digit.

The VIN arrives as `49 02 01` + 17 ASCII bytes on CAN, or as five legacy messages
`49 02 NN` + 4 bytes with leading 00 fillers. Fillers are only stripped as whole
NUL bytes, never as characters: python-OBD's regex strip ate real leading/trailing
`0`, `1`, `2` characters (its issues #275/#276).
"""

from __future__ import annotations

import re

from drivers.obd2.errors import DecodeError

__all__ = ["check_digit", "decode_calibration_ids", "decode_vin", "merge_info", "vin_is_valid"]

_TRANSLIT = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(vin: str) -> str:
    """The ISO 3779 / 49 CFR 565 check digit (position 9) a 17-character VIN should carry."""
    if len(vin) != 17:
        raise DecodeError(f"VIN must have 17 characters, got {len(vin)}")
    try:
        total = sum(_TRANSLIT[c] * w for c, w in zip(vin.upper(), _WEIGHTS, strict=True))
    except KeyError as exc:
        raise DecodeError(f"VIN has an invalid character {exc.args[0]!r}") from None
    r = total % 11
    return "X" if r == 10 else str(r)


def vin_is_valid(vin: str) -> bool:
    try:
        return check_digit(vin) == vin[8].upper()
    except DecodeError:
        return False


def merge_info(messages: list[bytes], pid: int) -> bytes:
    """Concatenate Mode 09 messages (`49 PID ...`) into the item bytes after the count.

    CAN: one message `49 PID NN data...` (NN = number of items). Legacy: several
    messages `49 PID SEQ data(4)` ordered by SEQ.
    """
    if not messages:
        raise DecodeError("no Mode 09 data")
    for m in messages:
        if len(m) < 3 or m[0] != 0x49 or m[1] != pid:
            raise DecodeError(f"not a Mode 09 PID {pid:02X} message: {m.hex()}")
    if len(messages) == 1:
        return messages[0][3:]
    ordered = sorted(messages, key=lambda m: m[2])
    return b"".join(m[3:] for m in ordered)


def decode_vin(messages: list[bytes]) -> str:
    """The VIN from the messages one ECU sent for `0902`. Raises DecodeError."""
    data = merge_info(messages, 0x02).lstrip(b"\x00")
    if len(data) != 17:
        raise DecodeError(f"VIN must have 17 characters, got {len(data)}: {data!r}")
    try:
        vin = data.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError(f"VIN is not ASCII: {data.hex()}") from None
    if not _VIN.fullmatch(vin):
        raise DecodeError(f"VIN has characters outside A-Z/0-9: {vin!r}")
    return vin


def decode_calibration_ids(messages: list[bytes]) -> list[str]:
    """Calibration IDs (16 ASCII bytes each, NUL padded) from a `0904` reply."""
    data = merge_info(messages, 0x04)
    if len(data) % 16:
        raise DecodeError(f"calibration IDs must be 16-byte items, got {len(data)} bytes")
    out = []
    for i in range(0, len(data), 16):
        item = data[i : i + 16].rstrip(b"\x00")
        try:
            text = item.decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError(f"calibration ID is not ASCII: {item.hex()}") from None
        if not text.isprintable():
            raise DecodeError(f"calibration ID has control characters: {text!r}")
        out.append(text)
    return out


def decode_cvns(messages: list[bytes]) -> list[str]:
    """Calibration verification numbers (4 bytes each, shown as 8 hex digits) from a
    `0906` reply, in the order of the calibration IDs they check."""
    data = merge_info(messages, 0x06)
    if len(data) % 4:
        raise DecodeError(f"CVNs must be 4-byte items, got {len(data)} bytes")
    return [data[i : i + 4].hex().upper() for i in range(0, len(data), 4)]


def decode_ecu_name(messages: list[bytes]) -> str:
    """The ECU name (20 ASCII bytes, NUL padded, e.g. `ECM-EngineControl`) from `090A`."""
    data = merge_info(messages, 0x0A).rstrip(b"\x00")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError(f"ECU name is not ASCII: {data.hex()}") from None
    if len(data) > 20 or not text.isprintable():
        raise DecodeError(f"ECU name is not 20 printable characters: {text!r}")
    return text
