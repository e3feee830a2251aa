"""`baygate run` from the shipped `config/agent.example.toml`, changed only where a
site must change it: hosts, ports, device URLs, the state dir (and the install path of
the manufacturer definitions, as the README's `cp -r config/manufacturers` does).

vPIC and recalls are two fakes on two ports, each asked only at its real path: the
shipped config once decoded at `/api/vehicles/api/vehicles/...` and asked recalls on
the vPIC host (issue 11), and a test that wrote its own config never saw it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import EXAMPLE_CONFIG, SHIPPED_MANUFACTURERS
from simulators.elm327.tcp import serve_tcp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.e2e.test_agent_e2e import ingest_running, wait_for
from tests.support.broker import Broker, free_port
from tests.support.records import backend_records

ROOT = Path(__file__).resolve().parents[2]


def site_config(text: str, changes: dict[str, str]) -> str:
    """Replace the value of each `key = ...` line named in `changes` (first match after
    the section header `[section]` given as `section.key`), and nothing else. Fails if
    the shipped file no longer has that key where the README says it is."""
    out = text
    for dotted, value in changes.items():
        section, key = dotted.rsplit(".", 1)
        header = re.search(rf"^\[\[?{re.escape(section)}\]\]?\s*$", out, flags=re.M)
        assert header, f"shipped config lost its [{section}] section"
        line = re.compile(rf"^{re.escape(key)}\s*=.*$", flags=re.M)
        hit = line.search(out, header.end())
        assert hit, f"shipped config lost {dotted}"
        out = out[: hit.start()] + f"{key} = {value}" + out[hit.end() :]
    return out


def test_site_config_changes_only_the_named_lines() -> None:
    shipped = EXAMPLE_CONFIG.read_text()
    changed = site_config(shipped, {"mqtt.url": '"mqtt://10.0.0.2:1883"'})
    diff = [(a, b) for a, b in zip(shipped.splitlines(), changed.splitlines(), strict=True) if a != b]
    assert diff == [('url = "mqtt://127.0.0.1:1883"', 'url = "mqtt://10.0.0.2:1883"')]
    with pytest.raises(AssertionError, match=r"lost mqtt\.nope"):
        site_config(shipped, {"mqtt.nope": "1"})


@pytest.mark.anyio
async def test_shipped_config_decodes_and_asks_recalls_at_the_real_paths(
    own_broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "backend.sqlite3"
    api_port = free_port()
    with ServiceServer(NhtsaApp()) as vpic, ServiceServer(NhtsaApp()) as recalls:
        async with serve_tcp(profile="petrol-can") as elm, ingest_running(own_broker.url, db):
            text = site_config(
                EXAMPLE_CONFIG.read_text(),
                {
                    "agent.state_dir": f'"{tmp_path / "state"}"',
                    "obd.dongles.url": f'"tcp://127.0.0.1:{elm.port}"',
                    "cameras.source": '"sim:door_jamb,qrcode"',
                    "enrich.manufacturers_dir": f'"{SHIPPED_MANUFACTURERS}"',
                    "enrich.nhtsa.vpic_url": f'"{vpic.url}/api/vehicles/"',
                    "enrich.nhtsa.recalls_url": f'"{recalls.url}/"',
                    "mqtt.url": f'"{own_broker.url}"',
                    "api.port": str(api_port),
                },
            )
            cfg = tmp_path / "agent.toml"
            cfg.write_text(text)
            log_fd = os.open(tmp_path / "agent.log", os.O_WRONLY | os.O_CREAT, 0o600)
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log_fd,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            )
            try:

                def enriched() -> list[dict[str, object]] | None:
                    recs = backend_records(db, "bay-1")
                    report = next((r["id"] for r in recs if r["kind"] == "vehicle_report"), None)
                    sources = {
                        r["source"] for r in recs if r["kind"] == "enrichment" and r["subject"] == report
                    }
                    return recs if {"nhtsa.vpic", "nhtsa.recalls"} <= sources else None

                recs = await wait_for(enriched, 90, "vPIC and recalls enrichment at the backend")
            finally:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):
                    rc = await proc.wait()
                os.close(log_fd)
            vpic_paths = vpic.stats()["by_path"]
            recalls_paths = recalls.stats()["by_path"]

    log = (tmp_path / "agent.log").read_text(errors="replace")
    assert rc == 0, log[-3000:]
    report = next(r for r in recs if r["kind"] == "vehicle_report")
    assert report["vin"] == "1FTFW1ET9DFC10312"  # the dongle's car, known to the NHTSA fake
    by_source = {r["source"]: r for r in recs if r["kind"] == "enrichment" and r["subject"] == report["id"]}
    assert by_source["nhtsa.vpic"]["status"] == "ok", by_source["nhtsa.vpic"]
    assert by_source["nhtsa.recalls"]["status"] == "ok", by_source["nhtsa.recalls"]
    # Each host was asked only at its own service's real paths: decodes and recalls, and
    # the scheduled health check's one query of each (agent/enrich/probes.py).
    assert any(p.startswith("/api/vehicles/DecodeVin") for p in vpic_paths), vpic_paths
    assert set(vpic_paths) - {"/api/vehicles/DecodeWMI/1FT"} and all(
        p.startswith("/api/vehicles/DecodeVin") or p == "/api/vehicles/DecodeWMI/1FT" for p in vpic_paths
    ), vpic_paths
    assert any(p.startswith("/recalls/recallsByVehicle") for p in recalls_paths), recalls_paths
    assert all(
        p.startswith("/recalls/recallsByVehicle") or p == "/recalls/campaignNumber" for p in recalls_paths
    ), recalls_paths
