"""Camera and enrichment recognise and refuse the same serials, for every shipped
manufacturer file, because both use the one loader (`load_connectors`) and the one
matching function (`drivers.camera.serials`). And a GS1 DataMatrix printed by the
camera simulator reaches the manufacturer connector through the real path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import SHIPPED_MANUFACTURERS, EnrichSection
from agent.enrich.connectors.serials import normalise_serial, recognise, serial_problem
from agent.enrich.connectors.spec import load_connectors, load_serial_rules
from agent.enrich.service import EnrichmentService
from agent.pipelines.scan_station import ScanStation, scan_body
from agent.pipelines.sink import MemorySink
from agent.pipelines.wiring import EnrichmentFeed
from agent.records import RegistrationRecord, ScanRecord
from drivers.camera import Code, IteratorSource
from simulators.camera.stream import SceneStream
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer

CONNECTORS = load_connectors(SHIPPED_MANUFACTURERS)
RULES = load_serial_rules(SHIPPED_MANUFACTURERS)

# Real-shaped serials of each shipped maker, their near misses, and other labels' text.
CORPUS = [
    "7XKQ9R2", "7xkq-9r2", "4HBM3Q1", "7XKQ9R", "7XKQ9R22",  # Dell service tags and misses
    "5CG1234XYZ", "CND0987654", "5CG1234XY",  # HP
    "C02XK1ABJGH5", "F5KXK1ABJGH", "DMPXK1ABJGH5Z",  # Apple and misses
    "905KWXX1A234", "905KWXX1A23",  # LG
    "0B7H3NJR900123A", "0B7H3NJR900123AB",  # Samsung
    "C91204567", "CS4612345", "C9120456",  # Whirlpool
    "SN0123456789", "SN012345678", "PN33528", "1FTFW1ET9DFC10312", "", "??", "x" * 300,
]  # fmt: skip


def camera_says(serial: str) -> str | None:
    if not serial:
        return None
    body = scan_body("c", Code("CODE128", serial, ((0, 0),) * 4, 0.9, "zxing"), RULES)
    return body["serial"]["manufacturer"] if body.get("serial") else None


def enrichment_says(serial: str) -> str | None:
    conn = recognise(serial, CONNECTORS.values())
    if conn is None or serial_problem(normalise_serial(serial, conn), conn) is not None:
        return None
    return conn.id


def test_every_shipped_manufacturer_file_loads_for_both_sides() -> None:
    assert {r.manufacturer for r in RULES} == set(CONNECTORS) == {
        "apple", "dell", "hp", "lg", "samsung", "whirlpool"
    }  # fmt: skip


@pytest.mark.parametrize("serial", CORPUS)
def test_camera_and_enrichment_agree_on_the_corpus(serial: str) -> None:
    assert camera_says(serial) == enrichment_says(serial)


def test_the_corpus_is_attributed_as_the_makers_document() -> None:
    said = {s: camera_says(s) for s in CORPUS}
    assert said["7xkq-9r2"] == "dell" and said["5CG1234XYZ"] == "hp" and said["C02XK1ABJGH5"] == "apple"
    assert said["905KWXX1A234"] == "lg" and said["0B7H3NJR900123A"] == "samsung"
    assert said["C91204567"] == "whirlpool"
    assert said["SN012345678"] is None  # the camera simulator's generic asset tag: nobody's
    assert said["1FTFW1ET9DFC10312"] is None  # a VIN, not a serial


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ- ", min_size=1, max_size=20))
def test_camera_and_enrichment_agree_on_any_text(serial: str) -> None:
    assert camera_says(serial) == enrichment_says(serial)


@pytest.mark.anyio
async def test_a_gs1_datamatrix_from_the_camera_simulator_reaches_the_dell_connector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake's demo credentials, referenced as env: by the shipped dell.toml.
    monkeypatch.setenv("BAYGATE_DELL_CLIENT_ID", "baygate-demo")
    monkeypatch.setenv("BAYGATE_DELL_CLIENT_SECRET", "demo-secret")
    sink = MemorySink()
    feed = EnrichmentFeed(sink)
    with ServiceServer(ManufacturerApp()) as maker:
        section = EnrichSection(manufacturers_dir=SHIPPED_MANUFACTURERS, manufacturer_base_url=maker.url)
        async with await EnrichmentService.open(section, tmp_path, sink) as svc:
            stream = SceneStream([("gs1_datamatrix", "clean")], (640, 480), hold=2, limit=2)
            await ScanStation("bay1", feed, rules=RULES).run(IteratorSource(stream))
            while not feed.queue.empty():  # what the runtime's drain task does
                await svc.on_record(feed.queue.get_nowait())
            await svc.work_once()
            maker_calls = maker.stats()["by_path"]
    (scan,) = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert scan.classification == "gs1" and scan.serial is not None and scan.serial["manufacturer"] == "dell"
    regs = [r for r in sink.records if isinstance(r, RegistrationRecord) and r.subject == scan.id]
    assert regs and {r.manufacturer for r in regs} == {"dell"}
    assert regs[-1].status == "SUCCESS", regs[-1]
    assert any("entitlement" in p or "asset" in p for p in maker_calls), maker_calls
