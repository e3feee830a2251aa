"""The enrichment service: scans are never held back, the queue is durable and drains."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.config import SHIPPED_MANUFACTURERS
from agent.enrich.connectors.engine import Engine
from agent.enrich.connectors.spec import load_connectors, load_serial_rules
from agent.enrich.db import StateDB
from agent.enrich.queue import QueueSink, WorkQueue
from agent.enrich.registrar import Registrar, complete_registration
from agent.enrich.registrations import RegistrationStore
from agent.enrich.service import EnrichmentService
from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import MemorySink
from agent.records import AlertRecord, EnrichmentRecord, RegistrationRecord
from drivers.camera import Code
from simulators.services.server import ServiceServer
from tests.support.enrich import FakeClock, faults, nhtsa_client, requests_to, resilience

pytestmark = pytest.mark.anyio

SILVERADO = "1GCUYDED6KZ104455"
MANUFACTURERS = SHIPPED_MANUFACTURERS


@asynccontextmanager
async def service(
    server: ServiceServer, clock: FakeClock, state_dir: Path, sink: MemorySink
) -> AsyncIterator[EnrichmentService]:
    db = StateDB(state_dir / "enrich.sqlite")
    res = resilience(clock, db, failure_threshold=1, attempts=1)
    nhtsa = nhtsa_client(server, clock, db=db, res=res)
    engine = Engine(res, clock=clock)
    conns = load_connectors(MANUFACTURERS)
    registrar = Registrar(RegistrationStore(db, clock), engine, conns, sink, clock=clock)
    svc = EnrichmentService(db=db, nhtsa=nhtsa, registrar=registrar, resilience=res, sink=sink, clock=clock)
    async with svc:
        yield svc


def enrichments(sink: MemorySink) -> list[EnrichmentRecord]:
    return [r for r in sink.records if isinstance(r, EnrichmentRecord)]


async def test_offline_facts_at_once_network_results_follow_naming_the_scan(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    scan_id = (await sink.emit(
        "scan",
        {"camera": "bay1", "symbology": "CODE39", "payload": SILVERADO, "classification": "vin",
         "vin": {"value": SILVERADO, "source": "barcode", "verified": True}, "confidence": 1.0},
    )).id  # fmt: skip
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        await svc.vin(scan_id, SILVERADO)
        # Nothing has touched the network yet, and the offline record is already out.
        assert requests_to(nhtsa_server) == 0
        (offline,) = enrichments(sink)
        assert offline.subject == scan_id and offline.source == "offline"
        assert offline.data["offline"]["manufacturer"] == "Chevrolet"
        assert await svc.work_once() == 1  # the decode; it queues the recalls lookup
        assert await svc.work_once() == 1
        assert await svc.queue.depth() == 0
    sources = {e.source: e for e in enrichments(sink)}
    assert sources["nhtsa.vpic"].status == "ok" and sources["nhtsa.vpic"].data["model"] == "Silverado"
    rec = sources["nhtsa.recalls"]
    assert rec.subject == scan_id and rec.data["model_matched"] == "SILVERADO 1500" and rec.data["count"] == 1


async def test_queue_waits_while_offline_survives_restart_and_drains_after_recovery(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    faults(nhtsa_server, persistent="503:0")
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        for i, vin in enumerate([SILVERADO, "5YJ3E1EA2KF317000", "1HGCM82633A004352"]):
            await svc.vin(f"scan-{i}", vin)
        assert await svc.work_once() == 0  # service down: the breaker opens, jobs are deferred
        assert await svc.queue.depth() == 3
        hits = requests_to(nhtsa_server)
        # One request per batch that was already in flight (the 3 lookups may split into
        # batches), no retries (attempts=1); then nothing: not due yet, breaker open.
        assert 1 <= hits <= 3
        assert await svc.work_once() == 0
        clock.advance(10)  # the jobs are due again but the breaker (30 s) is still open
        assert await svc.work_once() == 0
        assert requests_to(nhtsa_server) == hits
    faults(nhtsa_server, persistent=None)
    clock.advance(3600)
    async with service(nhtsa_server, clock, state_dir, sink) as svc:  # a restart
        assert await svc.queue.depth() == 3
        for _ in range(5):
            await svc.work_once()
            # Under load the 3 lookups may split into batches; in half-open the breaker
            # lets one probe through and defers the others, so give them time to be due.
            clock.advance(60)
        assert await svc.queue.depth() == 0
    vpic = [e for e in enrichments(sink) if e.source == "nhtsa.vpic"]
    assert sorted(e.subject for e in vpic) == ["scan-0", "scan-1", "scan-2"]
    assert all(e.status == "ok" for e in vpic)
    alerts = [r for r in sink.records if isinstance(r, AlertRecord)]
    assert [a.code for a in alerts] == ["breaker_open", "breaker_closed"]


async def test_a_poison_answer_is_a_permanent_failure_not_retried_on_every_start(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    # issue 10: nested JSON raised RecursionError in the vPIC parser, and the durable
    # queue retried the job on every start
    sink = MemorySink()
    faults(nhtsa_server, persistent="poison")
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        await svc.vin("scan-1", SILVERADO)
        for _ in range(3):
            await svc.work_once()
            clock.advance(700)
        assert await svc.queue.depth() == 0  # consumed, not deferred
        hits = requests_to(nhtsa_server)
    async with service(nhtsa_server, clock, state_dir, sink) as svc:  # a restart
        await svc.work_once()
        assert requests_to(nhtsa_server) == hits
    vpic = [e for e in enrichments(sink) if e.source == "nhtsa.vpic"]
    assert [e.status for e in vpic] == ["error"] and "nested deeper" in (vpic[0].error or "")


async def test_an_invalid_vin_gets_an_offline_error_and_no_lookup(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        await svc.vin("scan-x", "1GCUYDED6KZ10445O")
        assert await svc.queue.depth() == 0
    (rec,) = enrichments(sink)
    assert rec.status == "error" and "invalid characters" in (rec.error or "")


async def test_a_completion_from_the_cli_is_emitted_by_the_running_service(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        store = svc.registrar.store
        reg = await store.create("apple", "C02XK1ABJGH5", {"serial": "C02XK1ABJGH5"}, "normal", "scan-9")
        await store.update(reg.id, status="MANUAL_REQUIRED")
        # What `baygate registration complete` does, from another process, on the same file.
        other = StateDB(state_dir / "enrich.sqlite")
        await complete_registration(RegistrationStore(other), QueueSink(WorkQueue(other)), reg.id)
        other.close()
        await svc.work_once()
    (rec,) = [r for r in sink.records if isinstance(r, RegistrationRecord)]
    assert rec.registration == reg.id and rec.status == "USER_COMPLETED" and rec.subject == "scan-9"


async def test_run_loop_picks_up_work_as_it_arrives(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    import asyncio

    sink = MemorySink()
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        task = asyncio.create_task(svc.run(idle_s=5))
        try:
            await svc.vin("scan-1", SILVERADO)
            for _ in range(200):  # bounded: at most ~2 s of real time
                if any(e.source == "nhtsa.recalls" for e in enrichments(sink)):
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert [e.source for e in enrichments(sink)] == ["offline", "nhtsa.vpic", "nhtsa.recalls"]


async def test_a_scanned_serial_becomes_a_registration_naming_the_scan(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        reg = await svc.serial("scan-7", " c02xk1-abjgh5 ")
        assert reg.status == "PENDING" and reg.manufacturer == "apple"
        await svc.work_once()
    recs = [r for r in sink.records if isinstance(r, RegistrationRecord)]
    assert [r.status for r in recs] == ["PENDING", "PROCESSING", "MANUAL_REQUIRED"]
    assert {r.subject for r in recs} == {"scan-7"} and recs[-1].manual is not None


async def test_on_record_dispatches_scans_and_vehicle_reports(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    sink = MemorySink()
    # Scans as the camera produces them (classify + scan_body with the shipped rules),
    # never hand-built: a hand-built GS1 record once named its AIs "01"/"21" while the
    # camera says "gtin"/"serial", and its GTIN had a check digit the camera refuses.
    rules = load_serial_rules(SHIPPED_MANUFACTURERS)

    def camera_scan(symbology: str, payload: str) -> dict[str, object]:
        return scan_body("c", Code(symbology, payload, ((0, 0),) * 4, 0.9, "zxing"), rules)

    recs = {
        "report": await sink.emit("vehicle_report", {"dongle": "d1", "vin": SILVERADO, "vin_valid": True}),
        "serial": await sink.emit("scan", camera_scan("CODE128", "C02XK1ABJGH5")),
        "gs1": await sink.emit("scan", camera_scan("DATAMATRIX", "(01)00884116123453(21)7XKQ9R2")),
        "junk": await sink.emit("scan", camera_scan("CODE128", "S/N ??")),
    }
    ids = {k: r.id for k, r in recs.items()}
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        for rec in list(sink.records):
            await svc.on_record(rec)
        assert await svc.queue.depth() == 1  # the report's VIN
    regs = {r.subject: r for r in sink.records if isinstance(r, RegistrationRecord)}
    assert regs[ids["serial"]].manufacturer == "apple" and regs[ids["gs1"]].manufacturer == "dell"
    # A payload no rule claims is a raw scan: nothing to enrich, no error, no registration.
    assert recs["junk"].classification == "raw"  # type: ignore[attr-defined]
    assert not [e for e in enrichments(sink) if e.subject == ids["junk"]]
    assert ids["junk"] not in regs
    assert any(e.subject == ids["report"] and e.source == "offline" for e in enrichments(sink))
