"""The VIN decode summary: offline facts + vPIC data, as `vin decode --json` prints it
and as enrichment records carry it."""

from __future__ import annotations

from typing import Any

from agent.enrich.nhtsa import DecodeResult
from agent.enrich.vin import VinInfo

__all__ = ["decode_json"]


def decode_json(info: VinInfo, result: DecodeResult | None, error: str | None) -> dict[str, Any]:
    """The `vin decode --json` object (also what enrichment records carry)."""
    nhtsa: dict[str, Any] | None = None
    if result is not None:
        nhtsa = {**result.vehicle.as_dict(), "source": "cache" if result.cached else "network"}
    return {
        "vin": info.vin,
        "valid": info.valid,
        "check_digit_ok": info.check_digit_ok,
        "offline": {
            "manufacturer": info.manufacturer,
            "country": info.country,
            "model_year": info.model_year,
            "partial": info.partial,
            "problems": list(info.problems),
        },
        "nhtsa": nhtsa,
        "stale": bool(result and result.stale),
        "nhtsa_error": error,
    }
