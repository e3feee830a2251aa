from __future__ import annotations

from pathlib import Path

import pytest

from agent.demo import enrich as demo_enrich
from agent.demo.runner import DemoContext, demo_config
from agent.pipelines.sink import MemorySink
from agent.records import EnrichmentRecord, RegistrationRecord

pytestmark = pytest.mark.anyio


async def test_demo_step_enriches_an_earlier_scan_and_registers(
    anyio_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = MemorySink()
    vin = "1HGCM82633A004352"
    scan_id = (await sink.emit(
        "scan",
        {"camera": "bay1", "symbology": "CODE39", "payload": vin, "classification": "vin",
         "vin": {"value": vin, "source": "barcode", "verified": True}, "confidence": 0.99},
    )).id  # fmt: skip
    ctx = DemoContext(workdir=tmp_path, config=demo_config(tmp_path), sink=sink)
    async with ctx.stack:
        await demo_enrich.step(ctx)
        assert set(ctx.services) == {"nhtsa", "manufacturer"}
    mine = [r for r in sink.records if isinstance(r, EnrichmentRecord) and r.subject == scan_id]
    assert {r.source for r in mine} == {"offline", "nhtsa.vpic", "nhtsa.recalls"}
    statuses = {r.status for r in sink.records if isinstance(r, RegistrationRecord)}
    assert {"SUCCESS", "MANUAL_REQUIRED"} <= statuses
    assert "from earlier steps: 1" in capsys.readouterr().out
