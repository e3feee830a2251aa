"""Clearing codes from the bay screen on the running agent: the POST asks the bay's
vehicle session (the one link to the dongle), the simulated car forgets its codes, the
outcome is a dtc_clear row in the outbox's SQLite, and a fresh report shows the codes
gone; a refusal (engine running) is recorded and shown just the same."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import __version__
from agent.config import parse_config
from agent.pipelines.sink import MemorySink
from agent.pipelines.vehicle import VehicleSession
from agent.records import DtcClearRecord
from agent.service.health import HealthRegistry
from agent.service.runtime import Runtime, pipelines_from_config
from drivers.obd2.store import MemoryStore
from simulators.elm327 import serve_tcp
from tests.support.broker import free_port
from tests.support.obd import FAST
from tests.support.sync import running, until

pytestmark = pytest.mark.anyio

BAY = "3"
# The petrol-can car: stored P0301 P0133 and pending P0420 (7E8), pending P0741 (7E9);
# P0301 is also permanent, which Mode 04 cannot erase.
CODES = {"P0301", "P0133", "P0420", "P0741"}
Auth = dict[str, dict[str, str]]  # view/act -> the request headers that present that token


def _outbox_rows(state: Path, kind: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(state / "outbox.sqlite3")
    try:
        rows = con.execute("SELECT payload FROM rows WHERE stream = ? ORDER BY seq", (kind,)).fetchall()
    finally:
        con.close()
    return [json.loads(p) for (p,) in rows if p is not None]


@asynccontextmanager
async def _agent(tmp: Path, faults: list[str]) -> AsyncIterator[tuple[Any, httpx.AsyncClient, str, Auth]]:
    """`baygate run`'s wiring on the ELM327 simulator; MQTT unreachable, so every
    committed record stays in the outbox to be read back."""
    port = free_port()
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=faults) as elm:
        config = parse_config(
            {"agent": {"shop_id": "shop-c", "agent_id": "bay-c", "state_dir": str(tmp / "state")},
             "obd": {"dongles": [{"name": "d1", "url": elm.url, "bay": BAY}], "telemetry_hz": 2.0},
             "enrich": {"enabled": False}, "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},
             "api": {"port": port}},
            environ={},
        )  # fmt: skip
        health = HealthRegistry(version=__version__)
        vehicles: dict[str, object] = {}
        rt = Runtime(config, pipelines_from_config(config, health, vehicles), health=health, api=True,
                     vehicles=vehicles)  # fmt: skip
        async with running(rt.run), httpx.AsyncClient(timeout=30) as client:
            base = f"http://127.0.0.1:{port}/ui/api"
            token_file = tmp / "state" / "ui-tokens.json"
            await until(token_file.exists, what="the bay screen")
            tokens = json.loads(token_file.read_text())
            auth = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
            yield elm, client, base, auth


async def _bay(client: httpx.AsyncClient, base: str, token: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"{base}/bays/{BAY}", headers=token)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def _codes(client: httpx.AsyncClient, base: str, token: dict[str, str]) -> set[str]:
    report = (await _bay(client, base, token))["report"] or {}
    return {d["code"] for d in report.get("dtcs", [])}


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def _wait_codes(client: httpx.AsyncClient, base: str, token: dict[str, str], want: set[str]) -> None:
    async def shown() -> bool:
        return await _codes(client, base, token) == want

    await _eventually(shown, f"the bay showing {want}")


async def test_clear_from_the_screen_clears_the_car_records_and_shows_it(tmp_path: Path) -> None:
    async with _agent(tmp_path, ["engine-off"]) as (elm, client, base, tokens):
        await _wait_codes(client, base, tokens["view"], CODES)
        url = f"{base}/bays/{BAY}/clear-codes"
        who = await client.get(f"{base}/whoami", headers=tokens["view"])
        assert who.json()["clear_codes"] is True  # the page shows the button
        viewer = await client.post(url, json={"confirm": True}, headers=tokens["view"])
        assert viewer.status_code == 403
        unconfirmed = await client.post(url, json={}, headers=tokens["act"])
        assert unconfirmed.status_code == 400
        assert _outbox_rows(tmp_path / "state", "dtc_clear") == []  # neither reached the car

        r = await client.post(url, json={"confirm": True}, headers=tokens["act"])
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["outcome"] == "cleared" and answer["reason"] is None
        assert set(answer["cleared"]) == CODES and answer["ecus"] == ["7E8", "7E9"]

        # The car forgot them (the simulated ECUs' own lists), permanent P0301 aside.
        ecus = elm.simulation.profile.ecus
        assert all(not e.stored and not e.pending for e in ecus)
        # Committed through the outbox, with what was there before and after.
        (row,) = _outbox_rows(tmp_path / "state", "dtc_clear")
        rec = DtcClearRecord.model_validate(row)
        assert rec.id == answer["id"] and rec.dongle == "d1" and rec.vin == "1FTFW1ET9DFC10312"
        assert {d.code for d in rec.before.stored} == {"P0301", "P0133"}
        assert rec.after is not None and rec.after.stored == [] and rec.after.pending == []
        assert [d.code for d in rec.after.permanent] == ["P0301"]
        # A fresh report followed: the screen shows only the permanent code, and the clear.
        reports = _outbox_rows(tmp_path / "state", "vehicle_report")
        assert len(reports) == 2 and reports[1]["seq"] > rec.seq
        await _wait_codes(client, base, tokens["view"], {"P0301"})
        bay = await _bay(client, base, tokens["view"])
        assert bay["report"]["mil"] is False
        assert bay["clear"]["outcome"] == "cleared" and bay["clear"]["id"] == rec.id


async def test_a_refused_clear_is_recorded_and_shown_and_the_car_keeps_its_codes(tmp_path: Path) -> None:
    async with _agent(tmp_path, []) as (elm, client, base, tokens):  # the engine runs
        await _wait_codes(client, base, tokens["view"], CODES)
        r = await client.post(f"{base}/bays/{BAY}/clear-codes", json={"confirm": True}, headers=tokens["act"])
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "refused" and "engine runs" in r.json()["reason"]
        assert {d for e in elm.simulation.profile.ecus for d in e.stored} == {"P0301", "P0133"}
        (row,) = _outbox_rows(tmp_path / "state", "dtc_clear")
        rec = DtcClearRecord.model_validate(row)
        assert rec.outcome == "refused" and rec.after is None and "engine runs" in (rec.reason or "")
        assert {d.code for d in rec.before.stored} == {"P0301", "P0133"}

        async def shown() -> bool:
            return (await _bay(client, base, tokens["view"]))["clear"] is not None

        await _eventually(shown, "the clear on the bay screen")
        bay = await _bay(client, base, tokens["view"])
        assert bay["clear"]["outcome"] == "refused" and "engine runs" in bay["clear"]["reason"]
        assert await _codes(client, base, tokens["view"]) == CODES
        assert len(_outbox_rows(tmp_path / "state", "vehicle_report")) == 1  # nothing changed: no re-read


async def test_a_clear_without_a_car_is_recorded_as_failed(port: int) -> None:
    sink = MemorySink()
    vs = VehicleSession("d9", f"tcp://127.0.0.1:{port}", sink, pids=["RPM"], store=MemoryStore())
    rec = await vs.clear_codes()
    assert isinstance(rec, DtcClearRecord) and rec.outcome == "failed"
    assert rec.reason == "no car connected (dongle connecting)" and rec.dongle == "d9"
    assert sink.of_kind("dtc_clear") == [rec] and sink.of_kind("vehicle_report") == []
