"""The bay screen fed by the real producers: the camera's classify (VIN and serial
scans), the enrichment service on the fake NHTSA and the registrar (manual
registrations): offline facts first, NHTSA's decode and recalls with their date, tasks
the technician marks done; and a slow page never grows the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.config import SHIPPED_MANUFACTURERS, parse_config
from agent.enrich.connectors.engine import Engine
from agent.enrich.connectors.spec import load_connectors, load_serial_rules
from agent.enrich.db import StateDB
from agent.enrich.registrar import Registrar
from agent.enrich.registrations import RegistrationStore
from agent.enrich.service import EnrichmentService
from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import MemorySink
from agent.records import RegistrationRecord
from agent.ui.app import bay_map, registration_completer
from agent.ui.hub import QUEUE_SIZE, Event, Hub
from agent.ui.screen import BayScreen
from agent.ui.store import UiStore
from agent.ui.visits import VisitBook
from drivers.camera import Code
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.support.enrich import FakeClock, faults, nhtsa_client, resilience

pytestmark = pytest.mark.anyio

SILVERADO = "1GCUYDED6KZ104455"  # the fake NHTSA has one recall for it


def _code(symbology: str, payload: str) -> Code:
    return Code(symbology=symbology, payload=payload, position=((0, 0),) * 4, confidence=1.0, decoder="zxing")


@asynccontextmanager
async def _world(
    tmp_path: Path,
) -> AsyncIterator[tuple[BayScreen, EnrichmentService, MemorySink, ServiceServer, FakeClock]]:
    config = parse_config(
        {"agent": {"shop_id": "s", "agent_id": "a", "state_dir": str(tmp_path)},
         "cameras": [{"name": "cam2", "source": "sim:", "bay": "2"}]},
        environ={},
    )  # fmt: skip
    sink, clock = MemorySink(), FakeClock()
    with ServiceServer(NhtsaApp(), hang_s=2.0) as server:
        db = StateDB(tmp_path / "enrich.sqlite")
        res = resilience(clock, db, failure_threshold=1, attempts=1)
        registrar = Registrar(
            RegistrationStore(db, clock), Engine(res, clock=clock), load_connectors(SHIPPED_MANUFACTURERS),
            sink, clock=clock,
        )  # fmt: skip
        svc = EnrichmentService(
            db=db, nhtsa=nhtsa_client(server, clock, db=db, res=res), registrar=registrar, resilience=res,
            sink=sink, clock=clock,
        )  # fmt: skip
        store = await UiStore.open(tmp_path / "ui.sqlite3")
        screen = BayScreen(
            store, VisitBook(store, sink), bay_map(config), shop="s",
            complete_registration=registration_completer(tmp_path),
        )  # fmt: skip
        async with svc:
            yield screen, svc, sink, server, clock
        await store.aclose()


async def _feed(screen: BayScreen, sink: MemorySink, done: set[str]) -> None:
    """Hand the screen every record committed since the last call, in order."""
    for rec in list(sink.records):
        if rec.id not in done:
            done.add(rec.id)
            await screen.apply(rec)


async def test_vehicle_recalls_and_tasks_from_the_real_producers(tmp_path: Path) -> None:
    async with _world(tmp_path) as (screen, svc, sink, server, clock):
        done: set[str] = set()
        vin_scan = await sink.emit("scan", scan_body("cam2", _code("CODE39", SILVERADO), []))
        faults(server, persistent="503:0")  # NHTSA unreachable at first
        await svc.on_record(vin_scan)
        await svc.work_once()
        await _feed(screen, sink, done)
        snap = await screen.snapshot("2")
        # The VIN's own facts at once, while NHTSA does not answer.
        assert snap["vin"] == SILVERADO and snap["vehicle"]["offline"]["manufacturer"] == "Chevrolet"
        assert snap["vehicle"]["year"] == 2019 and snap["vehicle"]["make"] is None
        assert snap["visit"]["started_by"] == "scan"

        faults(server, persistent=None)  # NHTSA is back
        clock.advance(3600)  # the deferred lookups are due and the breaker half-open
        for _ in range(4):
            await svc.work_once()
        rules = load_serial_rules(SHIPPED_MANUFACTURERS)
        serial = await sink.emit("scan", scan_body("cam2", _code("CODE128", "C02XK1ABJGH5"), rules))
        await svc.on_record(serial)
        await svc.work_once()
        await _feed(screen, sink, done)

        snap = await screen.snapshot("2")
        v = snap["vehicle"]
        assert (v["make"], v["model"], v["decode_source"]) == ("CHEVROLET", "Silverado", "nhtsa")
        assert len(v["recalls"]) == 1 and v["recalls_checked_on"] is not None
        kinds = sorted(t["kind"] for t in snap["tasks"])
        assert kinds == ["recall", "registration"]
        reg = next(t for t in snap["tasks"] if t["kind"] == "registration")
        assert reg["url"] and reg["data"]["serial"] == "C02XK1ABJGH5" and reg["done_at"] is None
        assert [s["classification"] for s in snap["scans"]] == ["serial", "vin"]

        marked = await screen.task_done(reg["id"], "dana")
        assert marked.done_at is not None and marked.done_by == "dana"
        # The registrar hears of it: USER_COMPLETED goes out from the durable queue.
        await svc.work_once()
        completed = [
            r for r in sink.records if isinstance(r, RegistrationRecord) and r.status == "USER_COMPLETED"
        ]
        assert [r.serial for r in completed] == ["C02XK1ABJGH5"]
        again = await screen.snapshot("2")
        assert next(t for t in again["tasks"] if t["id"] == reg["id"])["done_at"] is not None


async def test_a_page_that_cannot_keep_up_is_cut_off_not_buffered() -> None:
    hub = Hub()
    slow, fast = hub.subscribe("1"), hub.subscribe("1")
    for i in range(QUEUE_SIZE + 10):
        hub.publish(Event("samples", "1", {"i": i}))
        if not fast.queue.empty():
            fast.queue.get_nowait()  # this one reads as fast as events come
    assert slow.stale and slow not in hub.subscribers and hub.dropped_clients == 1
    assert slow.queue.qsize() == 1  # only its last word: "bye" (it reconnects for a snapshot)
    names = [ev.name async for ev in slow.events()]
    assert names == ["bye"]
    assert fast in hub.subscribers and not fast.stale


async def test_a_deep_link_that_is_not_http_never_becomes_clickable(tmp_path: Path) -> None:
    # Untrusted input, not a producer's output: what a hostile manufacturer answer could carry.
    async with _world(tmp_path) as (screen, _svc, sink, _server, _clock):
        rec = await sink.emit("registration", {
            "registration": "r1", "manufacturer": "evil", "serial": "X1", "status": "MANUAL_REQUIRED",
            "manual": {"url": "javascript:alert(document.cookie)", "steps": ["click"]}})  # fmt: skip
        await screen.apply(rec)
        (task,) = await screen.store.tasks_of(screen.bays.default)
        assert task.url is None and task.steps == ["click"]
