"""Manufacturer connectors and the registration lifecycle against the fake manufacturer."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.config import SHIPPED_MANUFACTURERS
from agent.enrich.connectors.engine import Engine
from agent.enrich.connectors.serials import normalise_serial, recognise
from agent.enrich.connectors.spec import Connector, load_connector, load_connectors
from agent.enrich.db import StateDB
from agent.enrich.errors import ConnectorConfigError, EnrichError, UnknownProductError
from agent.enrich.registrar import Registrar
from agent.enrich.registrations import RegistrationStore
from agent.pipelines.sink import MemorySink
from agent.records import RegistrationRecord
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from tests.support.enrich import FakeClock, faults, requests_to, resilience

pytestmark = pytest.mark.anyio

SHIPPED = SHIPPED_MANUFACTURERS


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {
        "BAYGATE_DELL_CLIENT_ID": "baygate-demo",
        "BAYGATE_DELL_CLIENT_SECRET": "demo-secret",
        "BAYGATE_HP_API_KEY": "baygate-demo",
        "BAYGATE_HP_API_SECRET": "demo-secret",
        "TEST_API_KEY": "demo-api-key",
    }.items():
        monkeypatch.setenv(k, v)


@asynccontextmanager
async def make_registrar(
    server: ServiceServer, clock: FakeClock, state_dir: Path, conns: dict[str, Connector] | None = None
) -> AsyncIterator[tuple[Registrar, MemorySink]]:
    db = StateDB(state_dir / "enrich.sqlite")
    sink = MemorySink()
    engine = Engine(resilience(clock, db), base_url_override=server.url, clock=clock)
    conns = conns if conns is not None else load_connectors(SHIPPED)
    try:
        yield Registrar(RegistrationStore(db, clock), engine, conns, sink, clock=clock), sink
    finally:
        await engine.aclose()
        db.close()


def statuses(sink: MemorySink, rid: str) -> list[str]:
    return [r.status for r in sink.records if isinstance(r, RegistrationRecord) and r.registration == rid]


def test_shipped_configs_keep_the_keys_the_camera_reads() -> None:
    files = sorted(SHIPPED.glob("*.toml"))
    assert {f.stem for f in files} == {"apple", "dell", "hp", "lg", "samsung", "whirlpool"}
    for f in files:
        raw = tomllib.loads(f.read_text())
        assert isinstance(raw["id"], str) and isinstance(raw["name"], str)
        assert raw["recognise"]["serial_patterns"] and isinstance(
            raw["recognise"]["gs1_company_prefixes"], list
        )
        assert raw["serial"]["transform"][0] == "strip"
        assert raw["serial"]["min_length"] <= raw["serial"]["max_length"]
        methods = [m["type"] for m in raw["methods"]]
        assert methods[-1] == "manual"  # every connector ends in manual assist
        assert ("api" in methods) == (f.stem in ("dell", "hp"))


def test_serial_rules_transform_and_recognise() -> None:
    conns = load_connectors(SHIPPED)
    assert normalise_serial(" 7xkq-9r 2 ", conns["dell"]) == "7XKQ9R2"
    cases = {"7xkq-9r2": "dell", "5CG1234XYZ": "hp", "C02XK1ABJGH5": "apple", "905KWXX1A234": "lg",
             "0B7H3NJR900123A": "samsung", "C91204567": "whirlpool"}  # fmt: skip
    for serial, want in cases.items():
        found = recognise(serial, conns.values())
        assert found is not None and found.id == want, serial
    gs1 = recognise("anything", conns.values(), gtin="00885909123456")
    assert gs1 is not None and gs1.id == "apple"


def test_inline_credentials_are_refused(tmp_path: Path) -> None:
    text = (SHIPPED / "dell.toml").read_text().replace('"env:BAYGATE_DELL_CLIENT_SECRET"', '"hunter2"')
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConnectorConfigError, match="never inline"):
        load_connector(tmp_path / "bad.toml")


async def test_dell_api_registration_succeeds_in_one_batch_with_one_token(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path, creds: None
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, sink):
        ids = [(await reg.submit(s, manufacturer="dell")).id for s in ("7XKQ9R2", "4HBM3Q1", "9ZZZ9ZZ")]
        done = {r.id: r for r in await reg.process_due()}
        assert {done[i].status for i in ids} == {"SUCCESS"}
        first = done[ids[0]]
        assert first.method == "api" and first.result is not None
        assert (
            first.result["warranty_end"] == "2025-03-14T23:59:59Z"
            and first.result["model"] == "LATITUDE 7420"
        )
        assert statuses(sink, ids[0]) == ["PENDING", "PROCESSING", "SUCCESS"]
        assert requests_to(maker_server, "/PROD/sbil/eapi/v5/asset-entitlements") == 1  # batched
        await reg.submit("4HBM3Q1", manufacturer="dell")
        await reg.process_due()
        assert reg.engine.credentials.token_requests == 1  # the token was cached


async def test_partial_and_not_found_fall_back_as_they_should(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path, creds: None
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, _):
        partial = await reg.submit("CNPARTIAL1", manufacturer="hp", product={"model": "ProDesk"})
        unknown = await reg.submit("CNNOTFOUND", manufacturer="hp")
        done = {r.id: r for r in await reg.process_due()}
        assert done[partial.id].status == "PARTIAL_SUCCESS" and "warranty_end" in (
            done[partial.id].error or ""
        )
        miss = done[unknown.id]
        assert miss.status == "MANUAL_REQUIRED" and miss.manual is not None
        assert "CNNOTFOUND" in " ".join(miss.manual["steps"])
        trail = await reg.store.attempts(unknown.id)
        assert [(a.method, a.outcome) for a in trail] == [("api", "not_found"), ("manual", "manual")]


async def test_auth_failure_is_not_retried_and_says_so(  # noqa: PLR0917
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path,
    monkeypatch: pytest.MonkeyPatch, creds: None,
) -> None:  # fmt: skip
    monkeypatch.setenv("BAYGATE_DELL_CLIENT_SECRET", "wrong")
    conns = load_connectors(SHIPPED)
    api_only = conns["dell"].model_copy(update={"methods": conns["dell"].methods[:1]})
    async with make_registrar(maker_server, clock, state_dir, {"dell": api_only}) as (reg, sink):
        r = await reg.submit("7XKQ9R2", manufacturer="dell")
        (done,) = await reg.process_due()
        assert done.status == "FAILED" and "authentication failed" in (done.error or "")
        assert requests_to(maker_server, "/auth/oauth/v2/token") == 1 and clock.sleeps == []
        assert requests_to(maker_server, "/PROD/") == 0
        assert statuses(sink, r.id)[-1] == "FAILED"


async def test_apple_is_manual_and_the_technician_completes_it(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, sink):
        r = await reg.submit("c02xk1-abjgh5", product={"purchase_date": "2026-11-01"}, priority="high")
        assert r.manufacturer == "apple" and r.serial == "C02XK1ABJGH5"
        (done,) = await reg.process_due()
        assert done.status == "MANUAL_REQUIRED" and done.manual is not None
        assert done.manual["url"] == "https://checkcoverage.apple.com/?sn=C02XK1ABJGH5"
        assert any("2026-11-01" in s for s in done.manual["steps"])
        assert requests_to(maker_server) == 0
        final = await reg.complete(r.id)
        assert final.status == "USER_COMPLETED"
        assert statuses(sink, r.id) == ["PENDING", "PROCESSING", "MANUAL_REQUIRED", "USER_COMPLETED"]
        with pytest.raises(EnrichError):
            await reg.complete(r.id)


async def test_transient_failure_waits_then_succeeds(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path, creds: None
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, _):
        faults(maker_server, persistent="503:0")
        r = await reg.submit("7XKQ9R2", manufacturer="dell")
        (first,) = await reg.process_due()
        assert first.status == "PENDING" and first.next_at > clock.now and "503" in (first.error or "")
        assert await reg.process_due() == []  # not due yet: nothing is retried early
        faults(maker_server, persistent=None)
        clock.advance(first.next_at - clock.now)
        (second,) = await reg.process_due()
        assert second.id == r.id and second.status == "SUCCESS"


async def test_form_and_api_key_methods(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path, creds: None
) -> None:
    form = Connector.model_validate({
        "id": "acme", "name": "Acme",
        "recognise": {"serial_patterns": ["^AC[0-9]{6}$"]},
        "methods": [
            {"type": "api", "base_url": "https://api.acme.example/keyed/v1",
             "auth": {"type": "api_key", "header": "X-Api-Key", "key": "env:TEST_API_KEY"},
             "request": {"path": "/warranty", "query": {"serial": "{serial}"}},
             "response": {"items": "", "match": "serialNumber", "fields": {"end": "warrantyEndDate"}}},
            {"type": "form", "url": "https://acme.example/register/acme",
             "fields": {"serial": "{serial}", "model": "{model}"},
             "success_text": "Thank you for registering", "error_text": "There was an error"},
            {"type": "manual", "url": "https://acme.example/", "steps": ["Register {serial}"]},
        ],
    })  # fmt: skip
    async with make_registrar(maker_server, clock, state_dir, {"acme": form}) as (reg, _):
        r = await reg.submit("AC123456", product={"model": "A1"})
        (done,) = await reg.process_due()
        assert done.status == "SUCCESS" and done.method == "api" and done.result == {"end": "2025-01-31"}
        # Without the API: the HTML form is posted (no browser) and its success text recognised.
        reg.connectors["acme"] = form.model_copy(update={"methods": form.methods[1:]})
        r = await reg.submit("AC654321", product={"model": "A1"})
        (done,) = await reg.process_due()
        assert done.status == "SUCCESS" and done.method == "form"
        # A form that shows its error text falls through to manual assist.
        bad = form.methods[1].model_copy(update={"fields": {"serial": "{serial}-x"}})
        reg.connectors["acme"] = form.model_copy(update={"methods": [bad, form.methods[2]]})
        r = await reg.submit("AC111111")
        (done,) = await reg.process_due()
        assert done.status == "MANUAL_REQUIRED"
        trail = await reg.store.attempts(r.id)
        assert trail[0].outcome == "failed" and "rejected" in (trail[0].error or "")


async def test_unknown_serials_are_refused_up_front(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, sink):
        with pytest.raises(UnknownProductError):
            await reg.submit("??")
        with pytest.raises(UnknownProductError, match="length"):
            await reg.submit("12345678901", manufacturer="dell")
        assert sink.records == []


async def test_priorities_and_crash_recovery(anyio_backend: str, clock: FakeClock, state_dir: Path) -> None:
    store = RegistrationStore(StateDB(state_dir / "enrich.sqlite"), clock)
    low = await store.create("apple", "A", {}, "low", None)
    clock.advance(1)
    high = await store.create("apple", "B", {}, "high", None)
    clock.advance(1)
    normal = await store.create("apple", "C", {}, "normal", None)
    assert [r.id for r in await store.due()] == [high.id, normal.id, low.id]
    await store.update(low.id, status="PROCESSING")
    assert await store.recover() == 1
    assert (await store.get(low.id)).status == "PENDING"


async def test_tokens_are_refreshed_before_expiry_and_after_revocation(
    anyio_backend: str, maker_server: ServiceServer, clock: FakeClock, state_dir: Path, creds: None
) -> None:
    async with make_registrar(maker_server, clock, state_dir) as (reg, _):
        await reg.submit("7XKQ9R2", manufacturer="dell")
        await reg.process_due()
        assert reg.engine.credentials.token_requests == 1
        clock.advance(3600 - 59)  # inside the 60 s safety margin of a 3600 s token
        await reg.submit("4HBM3Q1", manufacturer="dell")
        await reg.process_due()
        assert reg.engine.credentials.token_requests == 2
        app = maker_server.app
        assert isinstance(app, ManufacturerApp)
        app.revoke_tokens()  # the cached token is now refused by the API
        r = await reg.submit("4HBM3Q1", manufacturer="dell")
        (done,) = await reg.process_due()
        assert done.id == r.id and done.status == "SUCCESS"
        assert reg.engine.credentials.token_requests == 3  # one fresh token, once
