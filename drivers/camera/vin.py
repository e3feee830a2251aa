"""VIN rules: alphabet, length, the North-American check digit, and VINs in barcodes.

Policy (a wrong VIN is worse than no VIN):
- exactly 17 characters of A-Z/0-9 without I, O, Q; anything else is not a VIN;
- position 9 is checked with the ISO 3779 / 49 CFR 565 weights. A match makes the VIN
  `verified`. A mismatch rejects it when the check digit is usable: always for North-
  American VINs (first character 1-5, mandatory there), and for any VIN whose position
  9 is a digit or X (it claims to be a check digit). Only a VIN whose position 9 is a
  letter other than X — a region where the check digit is not used, e.g. the 'Z' filler
  of many European VINs — is reported as `unverified`. (Measured on the simulator: a
  rule of 'non-North-American mismatch = unverified' let an OCR misread of '1' as 'L'
  in position 1 through as an unverified VIN; this rule rejects it.)
- characters are NEVER changed to make the check digit fit (measured: +2 points of
  read rate for 4-10 % false accepts).

A VIN is one run of exactly 17 VIN characters, never assembled: inner spaces or other
separators are never removed to make 17 characters (a part label 'PN33528 SN00707630'
is two tokens, not the VIN 'PN33528SN00707630'), and text from two boxes or two symbols
is never joined. This module is the one place that reads a VIN out of a payload or a
text line; scanner, classifier and OCR all call it.

Barcode VINs (Code 39 door-jamb labels, DataMatrix, QR): the payload, stripped of outer
whitespace, is a VIN if it is one; a labelled payload 'VIN:<vin>' ('VIN', then ':', '=',
'#', '-' or a space) carries the VIN after the label; an 18-20 character Code 39 payload
is a VIN if it starts with the import marker 'I' (a character no VIN contains) followed
by a valid 17-character VIN and at most two trailing characters (observed on import
labels: a check or plant suffix), and the VIN's check digit verifies — an extended
payload is only trusted with the checksum, because its boundaries are inferred.
Labelled and import-prefixed VINs are `labelled`: they outrank an unlabelled 17-character
code in the same view (a part number that happens to look like a VIN).

Text VINs (OCR, one text box): a token of the box — split at anything that is not A-Z/0-9
— that is exactly 17 characters, or 'VIN' directly followed by 17 (OCR drops the space
after a label), and whose check digit verifies. An OCR VIN is never `unverified`: without
the check digit one misread character would be a wrong VIN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "VIN_ALPHABET",
    "VinCheck",
    "check_digit",
    "check_vin",
    "is_vin_shape",
    "vin_from_barcode",
    "vins_in_text",
]

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_SHAPE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_VALUES = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}  # fmt: skip
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_NORTH_AMERICA = "12345"
_LABEL = re.compile(r"^VIN\s*[:=#-]?\s*(\S+)$", re.IGNORECASE)
_TOKENS = re.compile(r"[A-Z0-9]+")


@dataclass(frozen=True)
class VinCheck:
    value: str
    status: Literal["verified", "unverified"]
    labelled: bool = False  # said to be a VIN by its carrier ('VIN:' label, 'I' import prefix)

    @property
    def verified(self) -> bool:
        return self.status == "verified"


def is_vin_shape(text: str) -> bool:
    return bool(_SHAPE.match(text))


def check_digit(vin: str) -> str:
    """The check digit for a 17-character VIN-alphabet string ('0'-'9' or 'X')."""
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)


def check_vin(text: str) -> VinCheck | None:
    """The VIN verdict for a candidate string, or None when it must not be reported."""
    if not is_vin_shape(text):
        return None
    if check_digit(text) == text[8]:
        return VinCheck(text, "verified")
    if text[0] in _NORTH_AMERICA or text[8] in "0123456789X":
        return None  # a usable check digit is wrong: a misread or a forgery, never reported
    return VinCheck(text, "unverified")


def vin_from_barcode(symbology: str, payload: str) -> VinCheck | None:
    """A VIN carried by a barcode payload (see the module docstring for the rules)."""
    text = payload.strip()
    label = _LABEL.match(text)
    if label is not None:
        found = check_vin(label.group(1))
        return VinCheck(found.value, found.status, labelled=True) if found else None
    if len(text) == 17:
        return check_vin(text)
    if symbology == "CODE39" and 18 <= len(text) <= 20 and text[0] == "I":
        found = check_vin(text[1:18])
        if found is not None and found.verified:
            return VinCheck(found.value, found.status, labelled=True)
    return None


def vins_in_text(text: str) -> list[VinCheck]:
    """The verified VINs in one OCR text box, each one whole token of it."""
    found: list[VinCheck] = []
    tokens = _TOKENS.findall(text.upper())
    for i, raw in enumerate(tokens):
        token, labelled = raw, i > 0 and tokens[i - 1] == "VIN"
        if len(raw) == 20 and raw.startswith("VIN"):
            token, labelled = raw[3:], True
        vin = check_vin(token) if len(token) == 17 else None
        if vin is not None and vin.verified and vin.value not in {v.value for v in found}:
            found.append(VinCheck(vin.value, "verified", labelled=labelled))
    return found
