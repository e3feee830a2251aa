"""Serial recognition for enrichment: the camera's rules and matching functions
(`drivers.camera.serials`) over the connectors' own rules, so camera and enrichment
accept and refuse exactly the same serials (tests/agent/enrich/test_serial_agreement.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.enrich.connectors.spec import Connector
from drivers.camera.serials import apply_transform, match_gs1, match_serial

__all__ = ["normalise_serial", "recognise", "serial_problem"]


def normalise_serial(raw: str, connector: Connector) -> str:
    """The serial as `connector` stores it (its ordered transform)."""
    return apply_transform(raw, connector.serial.transform)


def serial_problem(serial: str, connector: Connector) -> str | None:
    """Why a transformed serial is unacceptable for `connector`, or None."""
    r = connector.serial
    if not r.min_length <= len(serial) <= r.max_length:
        return f"serial length {len(serial)} outside {r.min_length}..{r.max_length} for {connector.name}"
    if connector.recognise.serial_patterns and not connector.serial_rule().matches(serial):
        return f"serial {serial!r} does not match {connector.name}'s serial patterns"
    return None


def recognise(raw: str, connectors: Iterable[Connector], gtin: str | None = None) -> Connector | None:
    """The connector whose GS1 company prefix matches `gtin`, else whose serial rules
    match `raw`: the camera's `match_gs1` / `match_serial`, in connector order."""
    by_id = {c.id: c for c in connectors}
    rules = [c.serial_rule() for c in by_id.values() if c.recognises_anything]
    found = match_gs1({"gtin": gtin, "serial": raw}, rules) if gtin else None
    found = found or match_serial(raw, rules)
    return by_id[found.manufacturer] if found else None
