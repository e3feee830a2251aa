"""Offline VIN knowledge: structure, ISO 3779 check digit, WMI -> maker and country, model year.

Always available and instant (no I/O beyond reading the bundled WMI table once), so a
scan gets a first answer even when the shop is offline. Pure functions over strings.

Data: `wmi.csv` (next to this module) is Baygate's own table of ~390 common WMIs,
compiled from general public knowledge of ISO 3780 assignments. Country comes from
positions 1-2 through the ISO 3780 region ranges below. Partial VINs use `*` for
unknown positions (the vPIC convention).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

__all__ = [
    "VinInfo",
    "check_digit",
    "country_of",
    "decode_offline",
    "manufacturer_of",
    "model_year_candidates",
    "normalise_vin",
]

_ALLOWED = re.compile(r"^[A-HJ-NPR-Z0-9*]{17}$")
# ISO 3779 transliteration (I, O, Q never appear) and position weights.
_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
# Position 10 cycles through these 30 codes: 1980..2009, then again 2010..2039.
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
# ISO 3780 second-character order used by the country ranges.
_ORDER = "ABCDEFGHJKLMNPRSTUVWXYZ1234567890"

# (first char, second-char range start, end inclusive, country). First match wins.
_REGIONS: tuple[tuple[str, str, str, str], ...] = (
    ("A", "A", "H", "South Africa"), ("A", "J", "N", "Ivory Coast"),
    ("B", "A", "E", "Angola"), ("B", "F", "K", "Kenya"), ("B", "L", "R", "Tanzania"),
    ("C", "A", "E", "Benin"), ("C", "F", "K", "Madagascar"), ("C", "L", "R", "Tunisia"),
    ("D", "A", "E", "Egypt"), ("D", "F", "K", "Morocco"), ("D", "L", "R", "Zambia"),
    ("E", "A", "E", "Ethiopia"), ("E", "F", "K", "Mozambique"),
    ("F", "A", "E", "Ghana"), ("F", "F", "K", "Nigeria"),
    ("J", "A", "0", "Japan"),
    ("K", "A", "E", "Sri Lanka"), ("K", "F", "K", "Israel"), ("K", "L", "R", "South Korea"),
    ("K", "S", "0", "Kazakhstan"),
    ("L", "A", "0", "China"),
    ("M", "A", "E", "India"), ("M", "F", "K", "Indonesia"), ("M", "L", "R", "Thailand"),
    ("M", "S", "0", "Myanmar"),
    ("N", "A", "E", "Iran"), ("N", "F", "K", "Pakistan"), ("N", "L", "R", "Turkey"),
    ("P", "A", "E", "Philippines"), ("P", "F", "K", "Singapore"), ("P", "L", "R", "Malaysia"),
    ("R", "A", "E", "United Arab Emirates"), ("R", "F", "K", "Taiwan"), ("R", "L", "R", "Vietnam"),
    ("R", "S", "0", "Saudi Arabia"),
    ("S", "A", "M", "United Kingdom"), ("S", "N", "T", "Germany"), ("S", "U", "Z", "Poland"),
    ("S", "1", "4", "Latvia"),
    ("T", "A", "H", "Switzerland"), ("T", "J", "P", "Czech Republic"), ("T", "R", "V", "Hungary"),
    ("T", "W", "1", "Portugal"),
    ("U", "H", "M", "Denmark"), ("U", "N", "T", "Ireland"), ("U", "U", "Z", "Romania"),
    ("U", "5", "7", "Slovakia"),
    ("V", "A", "E", "Austria"), ("V", "F", "R", "France"), ("V", "S", "W", "Spain"),
    ("V", "X", "2", "Serbia"), ("V", "3", "5", "Croatia"), ("V", "6", "0", "Estonia"),
    ("W", "A", "0", "Germany"),
    ("X", "A", "E", "Bulgaria"), ("X", "F", "K", "Greece"), ("X", "L", "R", "Netherlands"),
    ("X", "S", "W", "Russia"), ("X", "X", "2", "Luxembourg"), ("X", "3", "0", "Russia"),
    ("Y", "A", "E", "Belgium"), ("Y", "F", "K", "Finland"), ("Y", "S", "W", "Sweden"),
    ("Y", "X", "2", "Norway"), ("Y", "3", "5", "Belarus"), ("Y", "6", "0", "Ukraine"),
    ("Z", "A", "R", "Italy"), ("Z", "X", "2", "Slovenia"), ("Z", "3", "5", "Lithuania"),
    ("1", "A", "0", "United States"), ("4", "A", "0", "United States"), ("5", "A", "0", "United States"),
    ("2", "A", "0", "Canada"),
    ("3", "A", "W", "Mexico"), ("3", "X", "7", "Costa Rica"), ("3", "8", "0", "Cayman Islands"),
    ("6", "A", "W", "Australia"),
    ("7", "A", "E", "New Zealand"), ("7", "F", "0", "United States"),
    ("8", "A", "E", "Argentina"), ("8", "F", "K", "Chile"), ("8", "L", "R", "Ecuador"),
    ("8", "S", "W", "Peru"), ("8", "X", "2", "Venezuela"),
    ("9", "A", "E", "Brazil"), ("9", "F", "K", "Colombia"), ("9", "L", "R", "Paraguay"),
    ("9", "S", "W", "Uruguay"), ("9", "X", "2", "Trinidad and Tobago"), ("9", "3", "9", "Brazil"),
)  # fmt: skip
# WMIs whose position 7 follows the North American model-year rule (49 CFR 565).
_NORTH_AMERICA = frozenset("12345")


@dataclass(frozen=True)
class VinInfo:
    """What can be known about a VIN without asking anyone."""

    vin: str
    valid: bool  # structurally a (possibly partial) VIN: 17 chars, no I/O/Q
    partial: bool  # contains '*' (unknown positions)
    check_digit_ok: bool | None  # None when it cannot be computed (partial/invalid)
    expected_check_digit: str | None
    manufacturer: str | None
    country: str | None
    model_year: int | None
    model_year_candidates: tuple[int, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def north_american(self) -> bool:
        """Made for North America (WMI 1-5): there the check digit is mandatory (49 CFR
        565.15), so a wrong one means a misread or a forged VIN, not a European habit."""
        return self.valid and self.vin[:1] in ("1", "2", "3", "4", "5")

    @property
    def acceptable(self) -> bool:
        """A VIN to act on: structurally valid, and its check digit right where required."""
        return self.valid and not (self.north_american and self.check_digit_ok is False)

    def as_dict(self) -> dict[str, object]:
        return {
            "manufacturer": self.manufacturer,
            "country": self.country,
            "model_year": self.model_year,
            "model_year_candidates": list(self.model_year_candidates),
            "partial": self.partial,
            "expected_check_digit": self.expected_check_digit,
            "problems": list(self.problems),
        }


def normalise_vin(text: str) -> str:
    """Upper-case, drop whitespace and dashes (labels often print VINs grouped)."""
    return re.sub(r"[\s-]", "", text).upper()


def check_digit(vin: str) -> str | None:
    """The ISO 3779 check digit for a 17-character VIN ('0'-'9' or 'X'); None if uncomputable."""
    if len(vin) != 17 or any(c not in _VALUES for c in vin):
        return None
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


@cache
def _wmi_table() -> dict[str, str]:
    path = Path(__file__).with_name("wmi.csv")
    with path.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["wmi"]: r["manufacturer"] for r in rows}


def manufacturer_of(vin: str) -> str | None:
    """Maker from the WMI (positions 1-3). Small-volume makers (position 3 = '9') are not listed."""
    return _wmi_table().get(vin[:3]) if len(vin) >= 3 else None


def country_of(vin: str) -> str | None:
    if len(vin) < 2 or vin[1] not in _ORDER:
        return None
    second = _ORDER.index(vin[1])
    for first, lo, hi, country in _REGIONS:
        if vin[0] == first and _ORDER.index(lo) <= second <= _ORDER.index(hi):
            return country
    return None


def model_year_candidates(vin: str) -> tuple[int, ...]:
    """Both years position 10 can mean (30-year cycle), oldest first; () if unknown."""
    if len(vin) < 10 or vin[9] not in _YEAR_CODES:
        return ()
    base = 1980 + _YEAR_CODES.index(vin[9])
    return (base, base + 30)


def _model_year(vin: str, today: date) -> tuple[int | None, tuple[int, ...]]:
    cands = model_year_candidates(vin)
    if not cands:
        return None, ()
    if vin[0] in _NORTH_AMERICA and len(vin) >= 7 and vin[6] != "*":
        # Light vehicles for North America: position 7 numeric -> 1980-2009 cycle,
        # alphabetic -> 2010-2039 cycle.
        year = cands[0] if vin[6].isdigit() else cands[1]
        # A year more than one ahead of today cannot be a real car: the VIN breaks
        # the position-7 convention (imports, misprints), so the other cycle is meant.
        if year > today.year + 1:
            year = cands[0]
        return year, cands
    # Elsewhere position 7 carries no year meaning: take the latest plausible year.
    plausible = [y for y in cands if y <= today.year + 1]
    return (max(plausible) if plausible else None), cands


def decode_offline(text: str, today: date | None = None) -> VinInfo:
    """Everything knowable offline about `text` (normalised first). Never raises."""
    vin = normalise_vin(text)
    problems: list[str] = []
    if len(vin) != 17:
        problems.append(f"length {len(vin)}, expected 17")
    bad = sorted({c for c in vin if not (c.isalnum() or c == "*") or c in "IOQ" or not c.isascii()})
    if bad:
        problems.append("invalid characters: " + "".join(bad))
    valid = not problems and bool(_ALLOWED.match(vin))
    partial = "*" in vin
    expected = check_digit(vin) if valid and not partial else None
    ok: bool | None = None
    if expected is not None:
        ok = vin[8] == expected
        if not ok:
            problems.append(f"check digit is {vin[8]}, expected {expected}")
    year, cands = _model_year(vin, today or date.today()) if valid else (None, ())
    clean3 = valid and "*" not in vin[:3]
    return VinInfo(
        vin=vin,
        valid=valid,
        partial=partial,
        check_digit_ok=ok,
        expected_check_digit=expected,
        manufacturer=manufacturer_of(vin) if clean3 else None,
        country=country_of(vin) if valid and "*" not in vin[:2] else None,
        model_year=year,
        model_year_candidates=cands,
        problems=tuple(problems),
    )
