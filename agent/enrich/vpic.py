"""Sans-IO parsing of NHTSA vPIC and recalls answers, and recall model-name variants.

vPIC's `ErrorCode` is a comma-separated string ("1,4,14,400"): 0 = clean. Garbage VINs
still come back as HTTP 200 with empty values, so emptiness is data, not an error;
a body that is not the documented JSON shape raises DataError.

Model names: vPIC and the recalls database spell some models differently (vPIC
"Silverado" + Series "1500" vs recalls "SILVERADO 1500"; "3-Series" vs "3 SERIES";
"CR-V" vs "CRV"). `recall_model_variants` lists the spellings to try, most likely
first; the client asks for each until one has recalls and reports which one matched.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from agent.enrich.answer import parse_answer
from agent.enrich.errors import DataError

__all__ = [
    "Recall",
    "VehicleDecode",
    "parse_decode_rows",
    "parse_recalls",
    "recall_model_variants",
    "vehicle_from_row",
]


@dataclass(frozen=True)
class VehicleDecode:
    vin: str
    make: str | None
    model: str | None
    model_year: int | None
    trim: str | None
    series: str | None
    body_class: str | None
    engine: dict[str, Any] | None
    fuel_type: str | None
    drive_type: str | None
    vehicle_type: str | None
    plant_country: str | None
    plant_city: str | None
    manufacturer: str | None
    error_codes: list[int]
    error_text: str | None
    suggested_vin: str | None

    @property
    def clean(self) -> bool:
        return self.error_codes == [0]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VehicleDecode:
        kwargs: dict[str, Any] = {k: d.get(k) for k in cls.__dataclass_fields__}
        kwargs["error_codes"] = list(kwargs["error_codes"] or [])
        return cls(**kwargs)


@dataclass(frozen=True)
class Recall:
    campaign: str
    component: str
    summary: str
    consequence: str
    remedy: str
    report_received: str | None  # ISO date; the API sends DD/MM/YYYY
    park_it: bool
    park_outside: bool
    over_the_air: bool
    make: str
    model: str
    model_year: str


def _json(body: bytes) -> Any:
    return parse_answer(body, "NHTSA answer")


def parse_decode_rows(body: bytes) -> list[dict[str, Any]]:
    """The `Results` rows of a DecodeVinValues / DecodeVINValuesBatch answer."""
    doc = _json(body)
    rows = doc.get("Results") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError("vPIC answer has no Results list")
    return rows


def _s(row: dict[str, Any], key: str) -> str | None:
    v = row.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def parse_error_codes(raw: str | None) -> list[int]:
    codes = []
    for part in (raw or "").split(","):
        if part.strip().isdigit():
            codes.append(int(part))
    return codes


def _num(v: str | None) -> float | int | None:
    if v is None:
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return int(f) if f.is_integer() else f


def vehicle_from_row(row: dict[str, Any]) -> VehicleDecode:
    year = _s(row, "ModelYear")
    engine = {
        "cylinders": _num(_s(row, "EngineCylinders")),
        "displacement_l": _num(_s(row, "DisplacementL")),
        "configuration": _s(row, "EngineConfiguration"),
        "hp": _num(_s(row, "EngineHP")),
        "model": _s(row, "EngineModel"),
        "electrification": _s(row, "ElectrificationLevel"),
    }
    return VehicleDecode(
        vin=_s(row, "VIN") or "",
        make=_s(row, "Make"),
        model=_s(row, "Model"),
        model_year=int(year) if year and year.isdigit() else None,
        trim=_s(row, "Trim"),
        series=_s(row, "Series"),
        body_class=_s(row, "BodyClass"),
        engine=engine if any(v is not None for v in engine.values()) else None,
        fuel_type=_s(row, "FuelTypePrimary"),
        drive_type=_s(row, "DriveType"),
        vehicle_type=_s(row, "VehicleType"),
        plant_country=_s(row, "PlantCountry"),
        plant_city=_s(row, "PlantCity"),
        manufacturer=_s(row, "Manufacturer"),
        error_codes=parse_error_codes(_s(row, "ErrorCode")),
        error_text=_s(row, "ErrorText"),
        suggested_vin=_s(row, "SuggestedVIN"),
    )


def _iso_date(ddmmyyyy: str | None) -> str | None:
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", ddmmyyyy or "")
    return f"{m[3]}-{m[2]}-{m[1]}" if m else None


def parse_recalls(body: bytes) -> list[Recall]:
    doc = _json(body)
    rows = doc.get("results") if isinstance(doc, dict) else None  # lowercase in this API
    if not isinstance(rows, list):
        raise DataError("recalls answer has no results list")
    out = []
    for r in rows:
        if not isinstance(r, dict):
            raise DataError("recalls result is not an object")
        out.append(
            Recall(
                campaign=str(r.get("NHTSACampaignNumber") or ""),
                component=str(r.get("Component") or ""),
                summary=str(r.get("Summary") or ""),
                consequence=str(r.get("Consequence") or ""),
                remedy=str(r.get("Remedy") or ""),
                report_received=_iso_date(str(r.get("ReportReceivedDate") or "")),
                park_it=bool(r.get("parkIt")),
                park_outside=bool(r.get("parkOutSide")),
                over_the_air=bool(r.get("overTheAirUpdate")),
                make=str(r.get("Make") or ""),
                model=str(r.get("Model") or ""),
                model_year=str(r.get("ModelYear") or ""),
            )
        )
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().upper()


def recall_model_variants(model: str, series: str | None = None) -> list[str]:
    """Spellings of a vPIC model to try against the recalls API, most likely first."""
    base = _norm(model)
    cands = [base]
    if series:
        first = _norm(series).split(" ")[0]
        # Truck series are load ratings (1500, 2500): the recalls database puts them
        # into the model name. Other series (F30, ZVW30L) are chassis codes it ignores.
        if first[:1].isdigit() and first not in base:
            cands.insert(0, f"{base} {first}")  # SILVERADO + 1500 -> SILVERADO 1500
    cands += [base.replace("-", " "), base.replace("-", ""), base.replace(" ", "")]
    head = base.split(" ")[0]
    if any(ch.isdigit() for ch in head):
        cands.append(head)  # F-150 LIGHTNING -> F-150
    seen: list[str] = []
    for c in (c.strip() for c in cands):
        if c and c not in seen:
            seen.append(c)
    return seen
