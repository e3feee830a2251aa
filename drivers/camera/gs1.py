"""GS1 payloads: element strings (FNC1/GS-separated or in '(AI)value' HRI form) and
GS1 Digital Link URIs (https://id.example/01/<gtin>/21/<serial>?10=<lot>).

Only the application identifiers a bay meets are named; others are kept by number.
A GTIN whose GS1 check digit is wrong makes the whole payload not-GS1 (it is then
classified as raw), because a bad GTIN is a misread, not data.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["AI_NAMES", "gtin_check_ok", "parse_digital_link", "parse_element_string"]

GS = "\x1d"
AI_NAMES = {
    "00": "sscc",
    "01": "gtin",
    "10": "lot",
    "11": "production_date",
    "17": "expiry",
    "21": "serial",
    "240": "additional_id",
    "241": "customer_part",
    "30": "count",
    "37": "count_of_items",
    "400": "order_number",
    "8006": "itip",
}
# Fixed-length AIs (value length); everything else is variable, ended by GS or the end.
_FIXED = {"00": 18, "01": 14, "02": 14, "11": 6, "12": 6, "13": 6, "15": 6, "16": 6, "17": 6, "20": 2}
_VARIABLE = ("10", "21", "22", "30", "37", "240", "241", "250", "400", "401", "8006", "8020")
_HRI = re.compile(r"\((\d{2,4})\)([^()]*)")
_MAX_VAR = 90


def gtin_check_ok(gtin: str) -> bool:
    if not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    digits = [int(d) for d in gtin.zfill(14)]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits[:13]))
    return (10 - total % 10) % 10 == digits[13]


def _named(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for ai, value in pairs:
        if not value or len(value) > _MAX_VAR:
            return None
        if ai == "01" and not gtin_check_ok(value):
            return None
        out[AI_NAMES.get(ai, f"ai{ai}")] = value
    return out or None


def parse_element_string(text: str) -> dict[str, str] | None:
    """AIs of an element string, or None when it is not a well-formed GS1 string.
    Accepts '(01)...(21)...' and the raw form with a leading ']d2'/']C1'/']Q3' and
    GS separators."""
    if text.startswith("("):
        pairs: list[tuple[str, str]] = _HRI.findall(text)
        if "".join(f"({a}){v}" for a, v in pairs) != text:
            return None
        return _named(pairs)
    for prefix in ("]d2", "]C1", "]Q3", "]e0"):
        text = text.removeprefix(prefix)
    text = text.lstrip(GS)
    pairs = []
    i = 0
    while i < len(text):
        ai = next(
            (a for a in (text[i : i + 2], text[i : i + 3], text[i : i + 4]) if a in _FIXED or a in _VARIABLE),
            None,
        )
        if ai is None:
            return None
        i += len(ai)
        if ai in _FIXED:
            value = text[i : i + _FIXED[ai]]
            if len(value) != _FIXED[ai]:
                return None
            i += _FIXED[ai]
            if text[i : i + 1] == GS:
                i += 1  # a needless separator after a fixed field is tolerated
        else:
            end = text.find(GS, i)
            end = len(text) if end < 0 else end
            value = text[i:end]
            i = end + 1
        pairs.append((ai, value))
    return _named(pairs) if pairs and pairs[0][0] in ("00", "01") else None


def parse_digital_link(url: str) -> dict[str, str] | None:
    """AIs from a GS1 Digital Link URI (any host; the path carries /01/<gtin>...)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    segs = [unquote(s) for s in parts.path.split("/") if s]
    try:
        start = segs.index("01")
    except ValueError:
        return None
    pairs = list(zip(segs[start::2], segs[start + 1 :: 2], strict=False))
    pairs += [(k, v) for k, v in parse_qsl(parts.query) if k.isdigit()]
    if any(not a.isdigit() for a, _ in pairs):
        return None
    return _named(pairs)
