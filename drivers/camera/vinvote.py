"""Deciding which OCR tokens are VINs: agreement between independent passes, then the
VIN rules, with vetoes sized from measurements on the simulator's plates.

Measured (7 passes, 112 legible plates and door-jamb stickers, 56 near-miss plates):
every false candidate that passed the check digit was read by at most 2 passes and beat
its nearest rival by at most 1 vote; correct VINs were mostly read by 5-7 passes. So a
token is accepted from one line only when:
  1. >= 3 passes read it exactly (never fewer than two independent passes agree);
  2. no rival token within 3 substitutions got as many votes (strict plurality);
  3. no rival differs from it only in characters the check digit cannot tell apart
     (A, J and 1 all count 1; B, K, S and 2 all count 2; ...): there, the check digit
     offers no protection, so a disagreement is a reject;
  4. positions 14-17 are digits (ISO 3779 for makers of >= 500 vehicles a year; all of
     text like 'VEHICLEIDENTIFICATIONNO' squeezed to 17 letters fails it);
  5. the VIN rules of vin.py accept it; an `unverified` VIN (no usable check digit)
     additionally needs one more vote and no rival at all.
"""

from __future__ import annotations

from collections import Counter

from drivers.camera.vin import VinCheck, check_vin

__all__ = ["MIN_VOTES", "vote_vins"]

MIN_VOTES = 3
_NEIGHBOUR = 3
_VALUE = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}  # fmt: skip


def _distance(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _blind(a: str, b: str) -> bool:
    """Do a and b differ somewhere the check digit cannot see (same transliteration)?"""
    return any(x != y and _VALUE.get(x, -1) == _VALUE.get(y, -2) for x, y in zip(a, b, strict=True))


def _accept(token: str, votes: Counter[str], min_votes: int) -> VinCheck | None:
    n = votes[token]
    if n < min_votes or not token[13:].isdigit():
        return None
    rivals = [(t, c) for t, c in votes.items() if t != token and _distance(t, token) <= _NEIGHBOUR]
    if any(c >= n for _, c in rivals) or any(_blind(t, token) for t, _ in rivals):
        return None
    vin = check_vin(token)
    if vin is None or (not vin.verified and (n < min_votes + 1 or rivals)):
        return None
    return vin


def vote_vins(lines: list[Counter[str]], min_votes: int = MIN_VOTES) -> list[VinCheck]:
    """The VINs the per-line votes support (usually zero or one)."""
    found: dict[str, VinCheck] = {}
    for votes in lines:
        for token in votes:
            vin = _accept(token, votes, min_votes)
            if vin is not None:
                found[vin.value] = vin
    return sorted(found.values(), key=lambda v: v.value)
