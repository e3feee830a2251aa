"""`baygate run` from the shipped config on the simulators: the camera simulator's Dell
GS1 labels are registered through the Dell API connector (pointed at the manufacturer
simulator with `enrich.manufacturer_base_url`), and the agent's log says what it did,
one line each: the vehicle report, each enrichment result, each registration, the
shutdown. Only the lines a site must change are changed (tests/e2e/test_shipped_config)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import EXAMPLE_CONFIG, SHIPPED_MANUFACTURERS
from simulators.elm327.tcp import serve_tcp
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.e2e.test_agent_e2e import ingest_running, wait_for
from tests.e2e.test_shipped_config import site_config
from tests.support.broker import Broker, free_port
from tests.support.records import backend_records

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_run_registers_dell_labels_through_the_api_and_logs_what_it_does(
    own_broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "backend.sqlite3"
    with ServiceServer(NhtsaApp()) as nhtsa, ServiceServer(ManufacturerApp()) as maker:
        async with serve_tcp(profile="petrol-can") as elm, ingest_running(own_broker.url, db):
            text = site_config(
                EXAMPLE_CONFIG.read_text(),
                {
                    "agent.state_dir": f'"{tmp_path / "state"}"',
                    "obd.dongles.url": f'"tcp://127.0.0.1:{elm.port}"',
                    "cameras.source": '"sim:gs1_datamatrix"',
                    "enrich.manufacturers_dir": f'"{SHIPPED_MANUFACTURERS}"',
                    "enrich.nhtsa.vpic_url": f'"{nhtsa.url}/api/vehicles/"',
                    "enrich.nhtsa.recalls_url": f'"{nhtsa.url}/"',
                    "mqtt.url": f'"{own_broker.url}"',
                    "api.port": str(free_port()),
                },
            )
            # The shipped file carries this key commented out, for exactly this use.
            commented = '# manufacturer_base_url = "http://127.0.0.1:8090/"'
            assert commented in text
            text = text.replace(commented, f'manufacturer_base_url = "{maker.url}/"')
            cfg = tmp_path / "agent.toml"
            cfg.write_text(text)
            log_fd = os.open(tmp_path / "agent.log", os.O_WRONLY | os.O_CREAT, 0o600)
            env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
            # The simulator's demo credentials, referenced as env: by manufacturers/dell.toml.
            env |= {"BAYGATE_DELL_CLIENT_ID": "baygate-demo", "BAYGATE_DELL_CLIENT_SECRET": "demo-secret"}
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_fd, env=env,
            )  # fmt: skip
            try:

                def registered() -> list[dict[str, object]] | None:
                    recs = backend_records(db, "bay-1")
                    done = [
                        r for r in recs
                        if r["kind"] == "registration" and r["manufacturer"] == "dell"
                        and r["method"] == "api" and r["status"] in ("REGISTERED", "SUCCESS")
                    ]  # fmt: skip
                    report = any(r["kind"] == "vehicle_report" for r in recs)
                    vpic = any(r["kind"] == "enrichment" and r["source"] == "nhtsa.vpic" for r in recs)
                    return recs if done and report and vpic else None

                recs = await wait_for(registered, 120, "a Dell registration through the API")
            finally:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):
                    rc = await proc.wait()
                os.close(log_fd)
            api_paths = maker.stats()["by_path"]

    lines = [json.loads(ln) for ln in (tmp_path / "agent.log").read_text().splitlines() if ln.startswith("{")]
    assert rc == 0
    assert any(p.endswith("/asset-entitlements") for p in api_paths), api_paths
    msgs = [(ln["level"], ln["msg"]) for ln in lines]
    assert any(lv == "INFO" and "vehicle report: VIN 1FTFW1ET9DFC10312" in m for lv, m in msgs), msgs
    assert any(lv == "INFO" and m.startswith("enrichment nhtsa.vpic for ") for lv, m in msgs)
    assert any(lv == "INFO" and m.startswith("registration ") and " dell " in m for lv, m in msgs)
    assert any("SIGTERM received: stopping" in m for _, m in msgs)
    assert msgs[-1] == ("INFO", "agent stopped")
    assert not any("Unspecified error" in m for _, m in msgs)
    dell = [r for r in recs if r["kind"] == "registration" and r["manufacturer"] == "dell"]
    assert all(r["method"] == "api" for r in dell if r["status"] in ("REGISTERED", "SUCCESS"))
