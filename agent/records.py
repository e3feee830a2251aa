"""Records the agent publishes: one pydantic model per kind under a common envelope.

The wire contract (topics, ids, ordering, idempotency) is in docs/records.md and the
JSON Schemas in docs/schema/ are generated from these models (`baygate schema`).
Bump `v` on any change a v1 consumer could not read; adding an optional field is not one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "KINDS",
    "AlertRecord",
    "DTCEntry",
    "DTCSet",
    "DtcClearRecord",
    "EcuInfo",
    "EnrichmentRecord",
    "FreezeFrame",
    "Gs1Fields",
    "JobTicketFields",
    "MonitorTestEntry",
    "PairingFields",
    "PidValue",
    "Readiness",
    "Record",
    "RegistrationRecord",
    "ScanFields",
    "ScanRecord",
    "StatusRecord",
    "TelemetryRecord",
    "VehicleReportRecord",
    "VinRead",
    "VisitDiff",
    "VisitRecord",
    "VisitScan",
    "parse_record",
    "record_id",
    "render_schemas",
    "utcnow",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def utcnow() -> datetime:
    return datetime.now(UTC)


def record_id(agent: str, epoch: str, seq: int) -> str:
    """The stable record id: agent, outbox epoch (a UUID made with the DB) and seq."""
    return f"{agent}:{epoch}:{seq}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(_Model):
    """Fields every record carries. `id` is unique forever; (agent, epoch, seq) orders."""

    v: Literal[1] = 1
    id: str = Field(description="'{agent}:{epoch}:{seq}', stable across resends")
    shop: str = Field(pattern=_ID)
    agent: str = Field(pattern=_ID)
    epoch: str = Field(description="UUID of the agent's outbox database; changes only if it is wiped")
    seq: int = Field(ge=1, description="per-agent, per-epoch sequence, strictly increasing, never reused")
    ts: datetime = Field(description="when the reading was taken (UTC)")


# --- scans (camera) -------------------------------------------------------------------


class VinRead(_Model):
    value: str = Field(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")
    source: Literal["barcode", "ocr", "obd", "manual"]
    verified: bool = Field(description="check digit (or two agreeing reads where none applies) confirmed")


class Gs1Fields(_Model):
    """A GS1 payload's application identifiers, named as the camera names them
    (drivers.camera.gs1.AI_NAMES; AIs without a name arrive as `ai<N>`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    sscc: str | None = None
    production_date: str | None = None
    expiry: str | None = None
    additional_id: str | None = None
    customer_part: str | None = None
    count: str | None = None
    count_of_items: str | None = None
    order_number: str | None = None
    itip: str | None = None


class JobTicketFields(_Model):
    """`BAYGATE:JOB:v1;id=…;bay=…` (other keys kept as printed)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: str
    bay: str | None = None


class PairingFields(_Model):
    """A dongle's pairing sticker, parsed by drivers.obd2.pairing (the one parser)."""

    address: str
    layout: str | None = None
    name: str | None = None
    bay: str | None = None
    url: str


ScanFields = Gs1Fields | JobTicketFields | PairingFields
_FIELDS_OF: dict[str, type[ScanFields]] = {
    "gs1": Gs1Fields,
    "job_ticket": JobTicketFields,
    "dongle_pairing": PairingFields,
}


class ScanRecord(Envelope):
    kind: Literal["scan"] = "scan"
    camera: str
    symbology: str = Field(description="QRCODE, DATAMATRIX, CODE128, CODE39, EAN13, ... or TEXT for OCR")
    payload: str = Field(
        # 7,089: a numeric QR code, the largest symbol payload (drivers/camera/symbology.py).
        max_length=7089, description="decoded text; binary payloads are base64 with payload_encoding"
    )
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    classification: Literal["vin", "serial", "dongle_pairing", "job_ticket", "url", "gs1", "raw"]
    vin: VinRead | None = None
    serial: dict[str, str] | None = Field(
        None, description="{manufacturer, serial} when a serial rule matched"
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="parsed payload (GS1 AIs, ticket fields)"
    )
    confidence: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _fields_fit_the_classification(self) -> ScanRecord:
        model = _FIELDS_OF.get(self.classification)
        if model is not None:
            model.model_validate(self.fields)
        return self

    def typed_fields(self) -> ScanFields | None:
        """`fields` as the model its classification promises (GS1 AIs, job ticket,
        dongle pairing): producer and consumer share these names."""
        model = _FIELDS_OF.get(self.classification)
        return model.model_validate(self.fields) if model is not None else None


# --- vehicles (OBD2) ------------------------------------------------------------------


class DTCEntry(_Model):
    code: str = Field(pattern=r"^[PCBU][0-3][0-9A-F]{3}$")
    description: str | None = None
    ecu: str | None = Field(None, description="responding ECU header, e.g. 7E8")


class DTCSet(_Model):
    stored: list[DTCEntry] = []
    pending: list[DTCEntry] = []
    permanent: list[DTCEntry] = []


class Readiness(_Model):
    mil: bool
    dtc_count: int = Field(ge=0)
    ignition: Literal["spark", "compression"] | None = None
    monitors: dict[str, dict[str, bool]] = Field(
        default_factory=dict, description="monitor name -> {supported, complete}"
    )


class PidValue(_Model):
    pid: str = Field(description="name, e.g. RPM")
    value: float | int | str | bool | None
    unit: str | None = None
    ts: datetime | None = None


class FreezeFrame(_Model):
    frame: int = 0
    dtc: str | None = None
    values: list[PidValue] = []


class MonitorTestEntry(_Model):
    """One Mode 06 on-board monitor test (SAE J1979): value and limits in `unit`."""

    mid: str = Field(description="OBDMID, 2 hex digits, e.g. A2")
    tid: str = Field(description="test id, 2 hex digits; 80-FE are the manufacturer's")
    monitor: str = Field(description="e.g. 'misfire cylinder 1', 'catalyst monitor bank 1'")
    test: str
    value: float
    min: float
    max: float
    unit: str | None = None
    passed: bool
    ecu: str | None = None


class EcuInfo(_Model):
    """Mode 09 per ECU: its name (PID 0A), calibration IDs (04) and their CVNs (06)."""

    ecu: str
    name: str | None = None
    calibration_ids: list[str] = []
    cvns: list[str] = Field(default_factory=list, description="8 hex digits each, one per calibration ID")


class VehicleReportRecord(Envelope):
    kind: Literal["vehicle_report"] = "vehicle_report"
    dongle: str
    vin: str | None = None
    vin_valid: bool = False
    protocol: str | None = None
    ecus: list[str] = []
    dtcs: DTCSet = DTCSet()
    readiness: Readiness | None = None
    freeze_frame: FreezeFrame | None = None
    calibration_ids: list[str] = []
    ecu_info: list[EcuInfo] = []
    monitor_tests: list[MonitorTestEntry] = Field(
        default_factory=list, description="Mode 06 results, when the report asked for them"
    )
    errors: list[str] = Field(default_factory=list, description="what could not be read, and why")


class DtcClearRecord(Envelope):
    """A Mode 04 'clear DTCs' that was asked for: done, or refused and why."""

    kind: Literal["dtc_clear"] = "dtc_clear"
    dongle: str
    vin: str | None = None
    outcome: Literal["cleared", "refused", "failed"]
    reason: str | None = Field(None, description="why it was refused or failed")
    before: DTCSet = Field(default_factory=DTCSet, description="the DTCs read just before")
    after: DTCSet | None = Field(None, description="the DTCs read just after a clear")
    ecus: list[str] = Field(default_factory=list, description="ECUs that acknowledged the clear")


class TelemetryRecord(Envelope):
    kind: Literal["telemetry"] = "telemetry"
    dongle: str
    vin: str | None = None
    samples: list[PidValue] = Field(max_length=10_000)
    sampled_down: bool = Field(False, description="true when the outbox was under pressure")


# --- enrichment and registration -------------------------------------------------------


class EnrichmentRecord(Envelope):
    kind: Literal["enrichment"] = "enrichment"
    subject: str = Field(description="id of the record this enriches (a scan or vehicle_report)")
    source: str = Field(description="offline, nhtsa.vpic, nhtsa.recalls, manufacturer.<name>")
    status: Literal["ok", "stale", "partial", "error"]
    data: dict[str, Any] = {}
    error: str | None = None
    fetched_at: datetime | None = None


class RegistrationRecord(Envelope):
    kind: Literal["registration"] = "registration"
    registration: str = Field(description="registration id, stable across status changes")
    subject: str | None = Field(None, description="id of the scan that started it")
    manufacturer: str
    serial: str
    status: Literal[
        "PENDING", "PROCESSING", "SUCCESS", "PARTIAL_SUCCESS", "MANUAL_REQUIRED", "FAILED", "USER_COMPLETED"
    ]
    method: Literal["api", "form", "manual"] | None = None
    priority: Literal["high", "normal", "low"] = "normal"
    attempts: int = Field(0, ge=0)
    manual: dict[str, Any] | None = Field(None, description="{url, steps} when MANUAL_REQUIRED")
    error: str | None = None


# --- visits (the bay screen) ------------------------------------------------------------


class VisitScan(_Model):
    """One full scan of a visit (the pre- or post-repair scan), taken from a vehicle_report."""

    report: str = Field(description="id of the vehicle_report record this scan is")
    ts: datetime
    dtcs: DTCSet = DTCSet()
    mil: bool | None = None
    monitors: dict[str, dict[str, bool]] = Field(
        default_factory=dict, description="monitor name -> {supported, complete}"
    )
    freeze_frame: FreezeFrame | None = None
    distance_since_clear_km: float | None = Field(
        None, description="PID 0x31 from live data, where the car reports it"
    )


class VisitDiff(_Model):
    """Pre-scan versus post-scan. A code counts once whichever of stored/pending/permanent holds it."""

    cleared: list[str] = Field(default_factory=list, description="in the pre-scan, gone in the post-scan")
    new: list[str] = Field(default_factory=list, description="absent in the pre-scan, in the post-scan")
    still_present: list[str] = Field(default_factory=list, description="in both scans")
    monitors_ready: list[str] = Field(
        default_factory=list, description="supported monitors incomplete before, complete after"
    )
    monitors_not_ready: list[str] = Field(
        default_factory=list, description="supported monitors incomplete in the post-scan"
    )
    mil_before: bool | None = None
    mil_after: bool | None = None
    freeze_frame_cleared: bool = Field(False, description="a freeze frame before, none after")


class VisitRecord(Envelope):
    """A car's stay in a bay. Sent when it opens, when its pre-scan is taken and when it
    ends; the same `visit` id across those records, the last one wins."""

    kind: Literal["visit"] = "visit"
    visit: str = Field(description="visit id, stable across the visit's records")
    bay: str = Field(pattern=_ID)
    state: Literal["open", "finished", "gone"] = Field(
        description="open; finished by the technician; gone: the car left without a finish"
    )
    vin: str | None = Field(None, pattern=r"^[A-HJ-NPR-Z0-9]{17}$")
    started_at: datetime
    ended_at: datetime | None = None
    started_by: Literal["dongle", "scan"]
    technician: str | None = Field(None, max_length=64)
    pre: VisitScan | None = None
    post: VisitScan | None = None
    diff: VisitDiff | None = Field(None, description="present once both scans are")


# --- agent -----------------------------------------------------------------------------


class StatusRecord(Envelope):
    kind: Literal["status"] = "status"
    state: Literal["online", "offline"]
    version: str
    config_version: str | None = Field(None, description="the remote config layer applied, if any")
    session: int = Field(ge=0, description="connection counter: pairs a birth with its Last Will")
    outbox_depth: int = Field(0, ge=0)
    oldest_pending_s: float | None = None
    acked_through: int | None = Field(
        None,
        ge=0,
        description="every seq of this epoch up to this one was acked by a backend and is no longer "
        "held by the agent (a backend store that lacks them moves its high-water mark past them)",
    )
    checks: dict[str, str] = Field(default_factory=dict, description="health check -> pass|warn|fail")


class AlertRecord(Envelope):
    kind: Literal["alert"] = "alert"
    severity: Literal["info", "warning", "critical"]
    code: str = Field(description="stable machine code, e.g. disk_full, breaker_open")
    message: str


Record = Annotated[
    ScanRecord
    | VehicleReportRecord
    | TelemetryRecord
    | DtcClearRecord
    | EnrichmentRecord
    | RegistrationRecord
    | StatusRecord
    | AlertRecord
    | VisitRecord,
    Field(discriminator="kind"),
]

KINDS: dict[str, type[Envelope]] = {
    "scan": ScanRecord,
    "vehicle_report": VehicleReportRecord,
    "telemetry": TelemetryRecord,
    "dtc_clear": DtcClearRecord,
    "enrichment": EnrichmentRecord,
    "registration": RegistrationRecord,
    "status": StatusRecord,
    "alert": AlertRecord,
    "visit": VisitRecord,
}

_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)


def parse_record(data: bytes | str) -> Envelope:
    """Validate a JSON record of any kind (raises pydantic.ValidationError)."""
    rec: Envelope = _ADAPTER.validate_json(data)
    return rec


def render_schemas() -> dict[str, str]:
    """kind -> schema JSON text (stable: sorted keys, trailing newline)."""
    out = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://baygate.example/schema/v1/{kind}.json"
        out[kind] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out
