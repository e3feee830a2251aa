"""The committed JSON Schemas in docs/schema/ must match the record models.

When this fails, run `make schema` (or `baygate schema --out docs/schema`) and commit
the result — and tell the backend teams: the schema is their contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.pipelines.sink import build_record
from agent.records import KINDS, parse_record, render_schemas

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"


def drift(committed_dir: Path) -> list[str]:
    """Kinds whose committed schema differs from the models (or is missing / extra)."""
    rendered = render_schemas()
    problems = []
    for kind, text in rendered.items():
        path = committed_dir / f"{kind}.schema.json"
        if not path.exists():
            problems.append(f"{kind}: missing {path.name}")
        elif path.read_text() != text:
            problems.append(f"{kind}: {path.name} differs from agent/records.py")
    for path in committed_dir.glob("*.schema.json"):
        if path.name.removesuffix(".schema.json") not in rendered:
            problems.append(f"{path.name}: no such record kind")
    return problems


def test_committed_schemas_match_the_models() -> None:
    assert drift(SCHEMA_DIR) == [], "run `make schema` and commit docs/schema/"


def test_drift_is_detected(tmp_path: Path) -> None:
    for kind, text in render_schemas().items():
        (tmp_path / f"{kind}.schema.json").write_text(text)
    assert drift(tmp_path) == []
    scan = json.loads((tmp_path / "scan.schema.json").read_text())
    scan["properties"]["payload"]["maxLength"] = 99
    (tmp_path / "scan.schema.json").write_text(json.dumps(scan))
    (tmp_path / "ghost.schema.json").write_text("{}")
    assert sorted(drift(tmp_path)) == [
        "ghost.schema.json: no such record kind",
        "scan: scan.schema.json differs from agent/records.py",
    ]


def test_every_kind_has_a_schema_with_the_envelope() -> None:
    for kind in KINDS:
        schema = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text())
        assert {"v", "id", "shop", "agent", "epoch", "seq", "ts", "kind"} <= set(schema["required"]) | {
            "v",
            "kind",
        }
        assert schema["properties"]["kind"]["const"] == kind


def test_records_round_trip_through_json_by_kind() -> None:
    rec = build_record(
        "alert",
        {"severity": "critical", "code": "disk_full", "message": "outbox cannot grow"},
        shop="s1",
        agent="a1",
        epoch="e",
        seq=7,
        ts=datetime(2026, 1, 1, tzinfo=UTC),
    )
    again = parse_record(rec.model_dump_json())
    assert again == rec
    assert again.id == "a1:e:7"


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "scan", "payload": "x"},  # envelope and fields missing
        {"kind": "telepathy"},
    ],
)
def test_invalid_records_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_record(json.dumps(bad))
