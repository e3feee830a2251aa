"""The whole agent, `baygate run` as a process, on simulators, read from the backend.

A simulated ELM327 over TCP, the camera simulator as a source, the fake vPIC + recalls
server, a real Mosquitto with the shipped production setup (`baygate broker init` +
`add-agent`: no anonymous clients, per-identity ACLs, per-agent authentication key)
and the reference ingest into SQLite, verifying every record's MAC. The agent must deliver a
vehicle report, telemetry, scans, and NHTSA enrichment naming the records it enriches;
serve /health and /metrics; and go offline cleanly (Last Will) on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import EXAMPLE_CONFIG, SHIPPED_MANUFACTURERS
from agent.records import KINDS
from simulators.elm327.tcp import serve_tcp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from sync.envelope import Rules
from sync.ingest import Ingest, IngestSettings
from sync.provision import BACKEND_USER
from sync.store import open_store
from tests.conftest import SecureBroker
from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = EXAMPLE_CONFIG


def write_config(tmp: Path, broker: SecureBroker, elm_port: int, nhtsa_url: str, api_port: int) -> Path:
    data = tomllib.loads(EXAMPLE.read_text())
    ident = broker.add_agent("shop-e2e", "bay-7")
    lines = [
        "[agent]",
        'shop_id = "shop-e2e"',
        'agent_id = "bay-7"',
        f'state_dir = "{tmp / "state"}"',
        "[obd]",
        "telemetry_hz = 5.0",
        f"telemetry_pids = {json.dumps(data['obd']['telemetry_pids'])}",
        "[[obd.dongles]]",
        'name = "sim-dongle"',
        f'url = "tcp://127.0.0.1:{elm_port}"',
        "[[cameras]]",
        'name = "sim-cam"',
        'source = "sim:door_jamb,qrcode"',
        "[enrich]",
        f'manufacturers_dir = "{SHIPPED_MANUFACTURERS}"',
        "[enrich.nhtsa]",
        f'vpic_url = "{nhtsa_url}/api/vehicles/"',
        f'recalls_url = "{nhtsa_url}/"',
        "[mqtt]",
        f'url = "{broker.url}"',
        f'username = "{ident.username}"',
        f'password = "{ident.password}"',
        f'auth_key = "file:{ident.key_file}"',
        "[api]",
        f"port = {api_port}",
    ]
    path = tmp / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.asynccontextmanager
async def ingest_running(url: str, db: Path, **kw: Any) -> AsyncIterator[Ingest]:
    settings = IngestSettings(url=url, db=str(db), client_id="e2e-ingest", group="e2e", **kw)
    ingest = Ingest(settings)
    task = asyncio.create_task(ingest.run())
    try:
        yield ingest
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def kinds_at_backend(db: Path) -> list[dict[str, object]]:
    store = open_store(str(db))
    try:
        return [json.loads(p) for (_, _, _, _, p) in store.records("bay-7") if p is not None]
    finally:
        store.close()


async def wait_for(pred, limit_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(pred)
        if got:
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.anyio
async def test_agent_end_to_end_on_simulators(secure_broker: SecureBroker, tmp_path: Path) -> None:
    db = tmp_path / "backend.sqlite3"
    api_port = free_port()
    with ServiceServer(NhtsaApp()) as nhtsa:
        async with (
            serve_tcp(profile="petrol-can") as elm,
            ingest_running(
                secure_broker.url,
                db,
                username=BACKEND_USER,
                password=secure_broker.backend_password,
                keys_dir=secure_broker.keys_dir,
                rules=Rules(kinds=frozenset(KINDS)),
            ) as ingest,
        ):
            cfg = write_config(tmp_path, secure_broker, elm.port, nhtsa.url, api_port)
            # A file, not a pipe: a chatty agent must never block on a full pipe buffer.
            log_fd = os.open(tmp_path / "agent.log", os.O_WRONLY | os.O_CREAT, 0o600)
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log_fd,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            )
            try:

                def complete() -> list[dict[str, object]] | None:
                    recs = kinds_at_backend(db)
                    kinds = {r["kind"] for r in recs}
                    vpic = [
                        r for r in recs
                        if r["kind"] == "enrichment" and r["source"] == "nhtsa.vpic" and r["status"] == "ok"
                    ]
                    want = {"status", "vehicle_report", "telemetry", "scan"}
                    return recs if want <= kinds and vpic else None

                recs = await wait_for(complete, 90, "the backend to hold every kind of record")
                # every record verified with the agent's key and met the schema kinds
                assert ingest.counters.unauthenticated == 0 and ingest.counters.rejected == 0
                async with httpx.AsyncClient() as client:
                    health = await client.get(f"http://127.0.0.1:{api_port}/health")
                    metrics = await client.get(f"http://127.0.0.1:{api_port}/metrics")
            finally:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):
                    rc = await proc.wait()
                os.close(log_fd)

    log = (tmp_path / "agent.log").read_text(errors="replace")
    assert rc == 0, log[-3000:]
    report = next(r for r in recs if r["kind"] == "vehicle_report")
    assert report["vin"] == "1FTFW1ET9DFC10312" and report["vin_valid"] is True
    assert {d["code"] for d in report["dtcs"]["stored"]}  # type: ignore[index]
    scans = [r for r in recs if r["kind"] == "scan"]
    assert any(s["vin"] and s["vin"]["verified"] for s in scans)  # type: ignore[index]
    enriched = {r["subject"] for r in recs if r["kind"] == "enrichment"}
    assert report["id"] in enriched  # the OBD VIN went to NHTSA, naming the report
    seqs = [int(r["seq"]) for r in recs]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert health.status_code == 200 and health.json()["checks"]["link"][0]["status"] == "pass"
    assert "baygate_build_info" in metrics.text
    assert "baygate_mqtt_connected 1.0" in metrics.text
    assert "baygate_mqtt_unauthenticated_total 0.0" in metrics.text  # every ack verified
    assert 'baygate_outbox_rows{state="pending"}' in metrics.text
    published = next(ln for ln in metrics.text.splitlines() if ln.startswith("baygate_mqtt_published_total"))
    assert float(published.split()[-1]) >= len(recs) - 1  # all but possibly the live status
