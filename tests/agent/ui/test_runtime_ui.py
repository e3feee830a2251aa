"""The bay screen inside the running agent: the runtime starts it in its TaskGroup, the
outbox sink feeds it, the finish button takes a post-scan from the bay's dongle, and
the visit reaches the backend through Mosquitto and the reference ingest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent import __version__
from agent.config import parse_config
from agent.service.health import HealthRegistry
from agent.service.runtime import Runtime, pipelines_from_config
from simulators.elm327 import serve_tcp
from tests.support.broker import Broker, free_port
from tests.support.obd import FAST
from tests.support.sync import ingest, running, store_records, until

pytestmark = pytest.mark.anyio


def _visits(db: Path) -> list[dict[str, Any]]:
    out = []
    for rec in store_records(db):
        payload = rec[-1]
        if payload is not None and (doc := json.loads(payload)).get("kind") == "visit":
            out.append(doc)
    return out


async def test_finish_on_the_running_agent_reaches_the_backend(broker: Broker, tmp_path: Path) -> None:
    # The screen on a port of its own (as on a shop LAN); /health stays on the [api] port.
    db, port, api_port = tmp_path / "backend.sqlite3", free_port(), free_port()
    async with serve_tcp(profile="petrol-can", timing=FAST) as elm:
        config = parse_config(
            {"agent": {"shop_id": "shop-u", "agent_id": "bay-u", "state_dir": str(tmp_path / "state")},
             "obd": {"dongles": [{"name": "d1", "url": elm.url, "bay": "3"}], "telemetry_hz": 2.0},
             "enrich": {"enabled": False}, "mqtt": {"url": broker.url},
             "api": {"port": api_port}, "ui": {"port": port}},
            environ={},
        )  # fmt: skip
        health = HealthRegistry(version=__version__)
        vehicles: dict[str, object] = {}
        rt = Runtime(config, pipelines_from_config(config, health, vehicles), health=health, api=True,
                     vehicles=vehicles, backoff_min_s=0.05, backoff_max_s=0.5)  # fmt: skip
        async with ingest(broker.url, db), running(rt.run), httpx.AsyncClient(timeout=30) as client:
            await until(lambda: any(v["pre"] for v in _visits(db)), what="the open visit at the backend")
            opened = next(v for v in _visits(db) if v["pre"])
            assert opened["bay"] == "3" and opened["state"] == "open" and opened["vin"] == "1FTFW1ET9DFC10312"
            tokens = json.loads((tmp_path / "state" / "ui-tokens.json").read_text())

            # The repair: codes cleared with Mode 04 from another client on the same car.
            reader, writer = await asyncio.open_connection("127.0.0.1", elm.port)
            writer.write(b"04\r")
            await reader.readuntil(b">")
            writer.close()

            r = await client.post(
                f"http://127.0.0.1:{port}/ui/api/visits/{opened['visit']}/finish",
                json={"technician": "Ana"}, headers={"Authorization": f"Bearer {tokens['act']}"},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            await until(lambda: any(v["state"] == "finished" for v in _visits(db)), what="finished visit")
            done = next(v for v in _visits(db) if v["state"] == "finished")
            assert done["visit"] == opened["visit"] and done["technician"] == "Ana"
            assert done["post"]["report"] != done["pre"]["report"]  # a fresh report: the post-scan
            assert "P0133" in done["diff"]["cleared"] and done["diff"]["mil_after"] is False
            health_doc = (await client.get(f"http://127.0.0.1:{api_port}/health")).json()
            assert health_doc["checks"]["dongle:d1"][0]["status"] == "pass"
            assert (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 404
            assert (await client.get(f"http://127.0.0.1:{api_port}/ui/api/bays")).status_code == 404
