"""VIN generation with a valid ISO 3779 / 49 CFR 565 check digit, written independently
of the driver so a bug in one cannot hide in the other."""

from __future__ import annotations

import random

__all__ = ["VIN_ALPHABET", "check_digit", "near_miss_vins", "random_vin"]

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
# North American WMIs (first character 1-5) always carry a check digit in position 9.
_WMIS = ("1HG", "1FT", "2T1", "3VW", "4T1", "5YJ", "1G1", "2HG", "JHM")


def check_digit(vin17: str) -> str:
    total = sum(_VALUES[c] * w for c, w in zip(vin17, _WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)


def random_vin(rng: random.Random) -> str:
    """A syntactically valid VIN with a correct check digit (North American WMI)."""
    wmi = rng.choice(_WMIS[:-1])
    body = "".join(rng.choice(VIN_ALPHABET) for _ in range(5))
    year = rng.choice("ABCDEFGHJKLMNPRSTVWXY123456789")
    plant = rng.choice(VIN_ALPHABET)
    serial = "".join(rng.choice("0123456789") for _ in range(6))
    vin = f"{wmi}{body}0{year}{plant}{serial}"
    return vin[:8] + check_digit(vin) + vin[9:]


# Characters a reader restricted to the VIN alphabet may legitimately see in I, O, Q.
_LOOKALIKES = {"I": "1JLT", "O": "0DQ", "Q": "0OD"}


def _put_letter(vin: str, letter: str, preferred: int) -> str:
    """`vin` with `letter` at the first position from `preferred` on whose character is
    not a look-alike of it: an O printed over a 0 is a misprinted VIN, not a different
    string, so it would not test anything."""
    for i in [*range(preferred, 17), *range(preferred)]:
        if i != 8 and vin[i] not in _LOOKALIKES[letter]:
            return vin[:i] + letter + vin[i + 1 :]
    return vin[:preferred] + letter + vin[preferred + 1 :]


def near_miss_vins(vin: str) -> dict[str, str]:
    """Strings that look like VINs but are not valid ones (must never be reported)."""
    good = check_digit(vin)
    wrong = next(d for d in "0123456789X" if d != good)
    return {
        "wrong_check_digit": vin[:8] + wrong + vin[9:],
        "contains_o": _put_letter(vin, "O", 11),
        "contains_i": _put_letter(vin, "I", 4),
        "contains_q": _put_letter(vin, "Q", 12),
        "sixteen_chars": vin[:16],
    }
