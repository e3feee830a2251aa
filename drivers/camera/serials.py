"""Product serial recognition with manufacturer serial rules.

The rules are plain data (the agent reads them from config/manufacturers/*.toml and
passes them in; the driver never reads config). Per manufacturer:
  transform: ordered steps applied before matching — "strip", "upper", "lower",
             "remove:<chars>" (delete each of <chars>, e.g. "remove:- ");
  serial_patterns: regexes that must match the WHOLE transformed serial;
  min_length / max_length: bounds on the transformed serial;
  gs1_company_prefixes: a GS1 payload whose GTIN (after its indicator digit) starts
             with one of these belongs to this manufacturer; its (21) is the serial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from drivers.camera.errors import CameraError

__all__ = ["SerialMatch", "SerialRule", "apply_transform", "match_gs1", "match_serial"]

_MAX_SERIAL = 64


@dataclass(frozen=True)
class SerialRule:
    manufacturer: str
    name: str = ""
    serial_patterns: tuple[str, ...] = ()
    gs1_company_prefixes: tuple[str, ...] = ()
    transform: tuple[str, ...] = ("strip", "upper")
    min_length: int = 4
    max_length: int = 40
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = tuple(re.compile(p) for p in self.serial_patterns)
        except re.error as exc:
            raise CameraError(f"manufacturer {self.manufacturer}: bad serial pattern: {exc}") from None
        for step in self.transform:
            if step not in ("strip", "upper", "lower") and not step.startswith("remove:"):
                raise CameraError(f"manufacturer {self.manufacturer}: unknown transform step {step!r}")
        object.__setattr__(self, "_compiled", compiled)

    def matches(self, serial: str) -> bool:
        if not self.min_length <= len(serial) <= self.max_length:
            return False
        return any(p.fullmatch(serial) for p in self._compiled)


@dataclass(frozen=True)
class SerialMatch:
    manufacturer: str
    serial: str


def apply_transform(text: str, steps: Iterable[str]) -> str:
    for step in steps:
        if step == "strip":
            text = text.strip()
        elif step == "upper":
            text = text.upper()
        elif step == "lower":
            text = text.lower()
        elif step.startswith("remove:"):
            text = text.translate({ord(c): None for c in step[7:]})
    return text


def match_serial(text: str, rules: Iterable[SerialRule]) -> SerialMatch | None:
    """The first manufacturer whose rules accept the text as a serial."""
    if not text or len(text) > _MAX_SERIAL * 2:
        return None
    for rule in rules:
        serial = apply_transform(text, rule.transform)
        if rule.matches(serial):
            return SerialMatch(rule.manufacturer, serial)
    return None


def match_gs1(fields: dict[str, str], rules: Iterable[SerialRule]) -> SerialMatch | None:
    """A GS1 payload's (21) serial, attributed by the GTIN's company prefix."""
    gtin, serial = fields.get("gtin"), fields.get("serial")
    if not gtin or not serial:
        return None
    company = gtin.zfill(14)[1:]
    for rule in rules:
        if any(company.startswith(p) for p in rule.gs1_company_prefixes):
            return SerialMatch(rule.manufacturer, apply_transform(serial, rule.transform))
    return None
