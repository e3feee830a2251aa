"""The shipped alert rules and Grafana dashboard against a real scrape of a running agent.

`baygate run` as a process with a simulated ELM327, the camera simulator and the fake
NHTSA (as in test_agent_e2e): once it has read the car, seen frames and called NHTSA,
its /metrics must carry every series the issue asks for, and every metric name used by
ops/prometheus/baygate-alerts.yml and ops/grafana/baygate-fleet.json must be in it.
promtool (Debian package `prometheus`) checks the rules, runs their unit tests, parses
every dashboard query, and lints the scrape itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.records import KINDS
from simulators.elm327.tcp import serve_tcp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from sync.envelope import Rules
from sync.provision import BACKEND_USER, init_dir
from tests.conftest import SecureBroker
from tests.e2e.test_agent_e2e import ROOT, ingest_running, wait_for, write_config
from tests.support.broker import Broker, free_port

OPS = ROOT / "ops"
RULES = OPS / "prometheus" / "baygate-alerts.yml"
DASHBOARD = OPS / "grafana" / "baygate-fleet.json"
NAME = re.compile(r"\bbaygate_[a-z0-9_]+\b")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is needed: apt-get install prometheus (Debian 12)"
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def sample_names(scrape: str) -> set[str]:
    """Every series name the scrape carries or declares: a labelled family with no
    series yet (no record dropped by a stream cap) still has its `# TYPE` line."""
    names: set[str] = set()
    for fam in text_string_to_metric_families(scrape):
        names |= {s.name for s in fam.samples}
        names.add(fam.name + "_total" if fam.type == "counter" else fam.name)
    return names


def value(scrape: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(scrape):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name}{labels} in the scrape")


def rules_file() -> tuple[list[str], list[str]]:
    """(alert names, exprs) of the rules file: every rule is one `alert:` and one
    single-line `expr:` (the file's house style; promtool's rule count checks it)."""
    text = RULES.read_text()
    alerts = re.findall(r"^\s*- alert:\s*(\S+)\s*$", text, re.M)
    exprs = re.findall(r"^\s*expr:\s*(.+?)\s*$", text, re.M)
    assert len(alerts) == len(exprs)
    return alerts, exprs


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """(/metrics text, /health document) of one `baygate run` on simulators."""
    tmp = tmp_path_factory.mktemp("ops")
    setup = tmp / "broker-setup"  # the production broker setup, as the secure_broker fixture
    password = init_dir(setup)
    broker = Broker(workdir=tmp / "mosquitto", secure_dir=setup)
    broker.start()
    try:
        return asyncio.run(_scrape_running_agent(SecureBroker(broker, setup, password), tmp))
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def scrape(agent_run: tuple[str, dict[str, Any]]) -> str:
    return agent_run[0]


async def _scrape_running_agent(broker: SecureBroker, tmp: Path) -> tuple[str, dict[str, Any]]:
    api_port = free_port()
    backend: dict[str, Any] = {
        "username": BACKEND_USER,
        "password": broker.backend_password,
        "keys_dir": broker.keys_dir,
        "rules": Rules(kinds=frozenset(KINDS)),
    }
    db = tmp / "b.sqlite3"
    with ServiceServer(NhtsaApp()) as nhtsa:
        async with serve_tcp(profile="petrol-can") as elm, ingest_running(broker.url, db, **backend):
            cfg = write_config(tmp, broker, elm.port, nhtsa.url, api_port)
            log_fd = os.open(tmp / "agent.log", os.O_WRONLY | os.O_CREAT, 0o600)
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log_fd,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            )
            try:

                def ready() -> str | None:
                    try:
                        text = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5).text
                    except httpx.HTTPError:
                        return None
                    want = ('baygate_obd_values_total{dongle="sim-dongle"}', 'baygate_camera_decodes_total{',
                            'baygate_breaker_state{')  # fmt: skip
                    busy = {ln.split("{")[0] for ln in text.splitlines() if ln.startswith(want)
                            and not ln.endswith(" 0.0")}  # fmt: skip
                    return text if busy >= {w.split("{")[0] for w in want} else None

                what = "dongle values, camera decodes and a breaker in /metrics"
                text: str = await wait_for(ready, 90, what)
                async with httpx.AsyncClient() as client:
                    health = (await client.get(f"http://127.0.0.1:{api_port}/health", timeout=5)).json()
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    async with asyncio.timeout(60):  # a clean stop; generous on a loaded 2-core box
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                    log = (tmp / "agent.log").read_text(errors="replace")
                    raise AssertionError(f"no clean stop on SIGTERM within 60 s:\n{log[-3000:]}") from None
                finally:
                    os.close(log_fd)
    return text, health


def test_every_component_has_its_series(scrape: str) -> None:
    assert value(scrape, "baygate_obd_values_total", dongle="sim-dongle") > 0
    assert value(scrape, "baygate_obd_telemetry_records_total", dongle="sim-dongle") >= 0
    assert value(scrape, "baygate_obd_connected", dongle="sim-dongle") in (0.0, 1.0)
    assert value(scrape, "baygate_camera_frames_total", camera="sim-cam") > 0
    assert value(scrape, "baygate_camera_decodes_total", camera="sim-cam") > 0
    assert value(scrape, "baygate_camera_up", camera="sim-cam") in (0.0, 1.0)
    breakers = [s for fam in text_string_to_metric_families(scrape) for s in fam.samples
                if s.name == "baygate_breaker_state" and s.value == 1.0]  # fmt: skip
    current = [(b.labels["host"].split(":")[0], b.labels["state"]) for b in breakers]
    assert current == [("127.0.0.1", "CLOSED")]
    assert value(scrape, "baygate_enrichment_queue_depth") >= 0
    assert value(scrape, "baygate_telemetry_downsampled_total", dongle="sim-dongle") == 0  # link healthy
    assert value(scrape, "baygate_telemetry_pressure") == 0
    assert value(scrape, "baygate_disk_free_bytes") > 0 and value(scrape, "baygate_disk_level") == 0
    # Scheduled health checks: the NHTSA simulator answers; the shipped manufacturer
    # connectors point at their real hosts, which this machine cannot reach.
    assert value(scrape, "baygate_service_up", service="nhtsa.vpic") == 1.0
    assert value(scrape, "baygate_service_up", service="nhtsa.recalls") == 1.0
    assert value(scrape, "baygate_service_up", service="manufacturer.dell") == 0.0
    labels = {k for fam in text_string_to_metric_families(scrape) for s in fam.samples for k in s.labels}
    assert labels <= {"dongle", "camera", "host", "state", "stream", "version", "service", "kind"}  # bounded


def test_health_carries_the_service_checks(agent_run: tuple[str, dict[str, Any]]) -> None:
    doc = agent_run[1]
    checks = doc["checks"]
    assert checks["service:nhtsa.vpic"][0]["status"] == "pass"
    assert checks["service:manufacturer.dell"][0]["status"] == "warn"  # down is degraded, not failed
    assert doc["status"] in ("pass", "warn")


def test_the_alert_rules_name_only_real_series_and_fire_as_intended(scrape: str) -> None:
    alerts, exprs = rules_file()
    names = {n for e in exprs for n in NAME.findall(e)}
    assert names and names <= sample_names(scrape), names - sample_names(scrape)
    assert {"BaygateOutboxBacklog", "BaygateBreakerOpen", "BaygateCameraDown", "BaygateDongleLost",
            "BaygateDiskNearlyFull"} <= set(alerts)  # fmt: skip
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts)} rules found" in checked.stdout  # our reading = promtool's
    tested = promtool("test", "rules", str(RULES.with_name("baygate-alerts.test.yml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_dashboard_queries_parse_and_name_only_real_series(scrape: str, tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    names = {n for e in exprs for n in NAME.findall(e)}
    assert names and names <= sample_names(scrape), names - sample_names(scrape)
    # Every query as a recording rule, Grafana's variables replaced: promtool parses them.
    subs = {"$__rate_interval": "1m", "$shop": ".*", "$agent": ".*"}
    concrete = list(exprs)
    for var, val in subs.items():
        concrete = [e.replace(var, val) for e in concrete]
    rules = [{"record": f"dash:q{i}", "expr": e} for i, e in enumerate(concrete)]
    path = tmp_path / "dash-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dash", "rules": rules}]}))  # JSON is YAML
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_scrape_passes_promtool_lint(scrape: str) -> None:
    linted = promtool("check", "metrics", stdin=scrape)
    assert linted.returncode == 0, linted.stdout + linted.stderr
