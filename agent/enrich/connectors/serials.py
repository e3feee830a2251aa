"""Serial rules: transform, validate and recognise product serials (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.enrich.connectors.spec import Connector, SerialRules

__all__ = ["normalise_serial", "recognise", "serial_problem"]


def normalise_serial(raw: str, rules: SerialRules) -> str:
    """Apply the ordered transform: strip, upper, lower, remove:CHARS."""
    s = raw
    for step in rules.transform:
        if step == "strip":
            s = s.strip()
        elif step == "upper":
            s = s.upper()
        elif step == "lower":
            s = s.lower()
        elif step.startswith("remove:"):
            chars = step[len("remove:") :]
            s = s.translate({ord(c): None for c in chars})
    return s


def serial_problem(serial: str, connector: Connector) -> str | None:
    """Why a transformed serial is unacceptable for `connector`, or None."""
    r = connector.serial
    if not r.min_length <= len(serial) <= r.max_length:
        return f"serial length {len(serial)} outside {r.min_length}..{r.max_length} for {connector.name}"
    pats = connector.recognise.serial_patterns
    if pats and not any(re.fullmatch(p, serial) for p in pats):
        return f"serial {serial!r} does not match {connector.name}'s serial patterns"
    return None


def recognise(raw: str, connectors: Iterable[Connector], gtin: str | None = None) -> Connector | None:
    """The connector whose GS1 prefix matches `gtin`, else whose serial rules match `raw`."""
    conns = list(connectors)
    if gtin:
        digits = gtin.lstrip("0")
        for c in conns:
            if any(
                gtin.startswith(p) or digits.startswith(p.lstrip("0"))
                for p in c.recognise.gs1_company_prefixes
            ):
                return c
    for c in conns:
        if c.recognise.serial_patterns and serial_problem(normalise_serial(raw, c.serial), c) is None:
            return c
    return None
