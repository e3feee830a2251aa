"""Render ops/grafana/baygate-fleet.json from a real simulated fleet into docs/img/fleet-dashboard.png.

    .venv/bin/python scripts/render_dashboard.py [--minutes 2.5] [--out docs/img/fleet-dashboard.png]

What runs, all on 127.0.0.1 and all stopped at the end (also on failure or Ctrl-C):
a Mosquitto with the production setup (`baygate broker init` + one identity per agent),
the reference ingest (`baygate backend`, so records are acked), the fake NHTSA
(`baygate simulate nhtsa`), one `baygate simulate elm327 --tcp` per agent and four
`baygate run` agents in two shops:

- shop-north/bay-1: healthy dongle, the camera simulator (`sim:`), NHTSA reachable;
- shop-north/bay-2: a dongle that drops the link on the 100th OBD reply of each
  connection (`--fault drop:100`);
- shop-south/bay-3: healthy dongle, and a camera whose MJPEG URL answers nothing
  (camera down);
- shop-south/bay-4: healthy dongle, NHTSA pointing at a closed port (its breaker opens:
  threshold 2 failures, open 600 s, so one car's failed lookups show it).

A real Prometheus (Debian's `prometheus`) scrapes each agent's /metrics every second
with `shop`/`agent` target labels, as ops/prometheus/prometheus.example.yml does. After
the run every panel's queries from the shipped dashboard are evaluated over Prometheus's
HTTP API (range queries for timeseries, instant ones for stat/table; $shop and $agent
= `.*`, $__rate_interval = 15s) and drawn by scripts/dashboard_view.py (Grafana cannot be
installed here), then screenshotted by the headless Chromium the browser tests use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agent.config import EXAMPLE_CONFIG, SHIPPED_MANUFACTURERS  # noqa: E402
from scripts.dashboard_view import Panel, Series, load_panels, render_html  # noqa: E402
from sync.provision import BACKEND_USER, AgentIdentity, add_agent, init_dir  # noqa: E402
from tests.support.broker import Broker, free_port  # noqa: E402

DASHBOARD = ROOT / "ops" / "grafana" / "baygate-fleet.json"
CHROMIUM = Path("/usr/bin/chromium")
WIDTH = 1400  # CSS px of the panel grid: a laptop-sized Grafana
STEP_S = 2  # query_range resolution: ~75 points per line over 2.5 min


@dataclass(frozen=True)
class AgentSpec:
    shop: str
    agent: str
    faults: tuple[str, ...] = ()
    camera: str | None = None  # a camera source, or no camera
    nhtsa_down: bool = False


# Agent ids unique across shops: the dashboard's legends name `{{agent}} {{dongle}}` alone.
FLEET = (
    AgentSpec("shop-north", "bay-1", camera="sim:door_jamb,qrcode"),
    # The link drops on the 100th OBD reply of each connection: after the connect's
    # queries and ~2 s of 5 Hz telemetry, so the dongle comes and goes (not never up).
    AgentSpec("shop-north", "bay-2", faults=("drop:100",)),
    AgentSpec("shop-south", "bay-3", camera="http://127.0.0.1:{dead}/stream.mjpg"),
    AgentSpec("shop-south", "bay-4", nhtsa_down=True),
)


class Processes:
    """Every child in its own process group; `stop_all` TERMs each group, then KILLs stragglers."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30  # an agent's bounded shutdown is well under that
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_until(what: str, limit_s: float, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {limit_s:.0f} s waiting for {what}")


def agent_config(
    tmp: Path,
    spec: AgentSpec,
    *,
    broker: Broker,
    ident: AgentIdentity,
    elm_port: int,
    nhtsa: str,
    api_port: int,
) -> Path:
    pids = tomllib.loads(EXAMPLE_CONFIG.read_text())["obd"]["telemetry_pids"]
    base = tmp / f"{spec.shop}-{spec.agent}"
    base.mkdir()
    lines = [
        "[agent]", f'shop_id = "{spec.shop}"', f'agent_id = "{spec.agent}"',
        f'state_dir = "{base / "state"}"',
        "[obd]", "telemetry_hz = 5.0", f"telemetry_pids = {json.dumps(pids)}",
        "[[obd.dongles]]", 'name = "bay-dongle"', f'url = "tcp://127.0.0.1:{elm_port}"',
    ]  # fmt: skip
    if spec.camera:
        source = spec.camera.format(dead=free_port())
        lines += ["[[cameras]]", 'name = "door"', f'source = "{source}"']
    if spec.nhtsa_down:
        nhtsa = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    lines += ["[enrich]", f'manufacturers_dir = "{SHIPPED_MANUFACTURERS}"']
    if spec.nhtsa_down:
        # One car's VIN decode fails 4 times (retry_attempts) against the default threshold
        # of 5: open after 2, and stay open for the run (the default 30 s would show it
        # HALF_OPEN at the panel's instant).
        lines += ["breaker_failure_threshold = 2", "breaker_open_timeout_s = 600.0"]
    lines += [
        "[enrich.nhtsa]", f'vpic_url = "{nhtsa}/api/vehicles/"', f'recalls_url = "{nhtsa}/"',
        "[mqtt]", f'url = "{broker.url}"', f'username = "{ident.username}"', f'password = "{ident.password}"',
        f'auth_key = "file:{ident.key_file}"',
        "[api]", f"port = {api_port}",
    ]  # fmt: skip
    path = base / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def prometheus_config(tmp: Path, targets: list[tuple[AgentSpec, int]]) -> Path:
    static = [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"shop": s.shop, "agent": s.agent}}
        for s, port in targets
    ]
    conf = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "baygate", "static_configs": static}],
    }
    path = tmp / "prometheus.yml"
    path.write_text(json.dumps(conf))  # JSON is YAML
    return path


@contextlib.contextmanager
def fleet_running(tmp: Path, procs: Processes) -> Iterator[tuple[str, int]]:
    """(Prometheus URL, number of agents) once every agent is scraped and up."""
    py = [sys.executable, "-m", "agent"]
    setup = tmp / "broker-setup"
    backend_password = init_dir(setup)
    # identities before the broker starts: it reads them once
    idents = {spec: add_agent(setup, spec.shop, spec.agent) for spec in FLEET}
    broker = Broker(workdir=tmp / "mosquitto", secure_dir=setup)
    broker.start()
    try:
        pw = tmp / "backend.pw"
        pw.write_text(backend_password)
        procs.start("backend", [*py, "backend", "--db", str(tmp / "backend.sqlite3"), "--mqtt", broker.url,
                                "--username", BACKEND_USER, "--password-file", str(pw),
                                "--keys-dir", str(setup / "keys")])  # fmt: skip
        nhtsa_port = free_port()
        procs.start("nhtsa", [*py, "simulate", "nhtsa", "--port", str(nhtsa_port)])
        nhtsa = f"http://127.0.0.1:{nhtsa_port}"
        targets = []
        for spec in FLEET:
            elm, api = free_port(), free_port()
            name = f"{spec.shop}-{spec.agent}"
            faults = [a for f in spec.faults for a in ("--fault", f)]
            procs.start(f"elm-{name}", [*py, "simulate", "elm327", "--tcp", f"127.0.0.1:{elm}", *faults])
            cfg = agent_config(
                tmp, spec, broker=broker, ident=idents[spec], elm_port=elm, nhtsa=nhtsa, api_port=api
            )
            targets.append((spec, api))
            procs.start(f"agent-{name}", [*py, "--config", str(cfg), "--log-json", "run"])
        prom_port = free_port()
        exe = shutil.which("prometheus") or "/usr/bin/prometheus"
        procs.start("prometheus", [exe, f"--config.file={prometheus_config(tmp, targets)}",
                                   f"--storage.tsdb.path={tmp / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"])  # fmt: skip
        url = f"http://127.0.0.1:{prom_port}"

        def all_up() -> bool:
            got = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=5).json()
            ups = [float(r["value"][1]) for r in got["data"]["result"]]
            return len(ups) == len(FLEET) and all(ups)

        wait_until("Prometheus scraping every agent", 120, all_up)
        yield url, len(FLEET)
    finally:
        procs.stop_all()
        broker.stop()


def query(url: str, panel: Panel, t0: float, t1: float) -> list[list[Series]]:
    out = []
    for target in panel.targets:
        if panel.instant:
            params = {"query": target.expr, "time": str(t1)}
            got = httpx.get(f"{url}/api/v1/query", params=params, timeout=30).json()
        else:
            params = {"query": target.expr, "start": str(t0), "end": str(t1), "step": str(STEP_S)}
            got = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=30).json()
        if got.get("status") != "success":
            raise RuntimeError(f"{panel.title}: {target.expr}: {got.get('error')}")
        series = []
        for r in got["data"]["result"]:
            pts = [r["value"]] if "value" in r else r["values"]
            series.append(Series(r["metric"], tuple((float(t), float(v)) for t, v in pts)))
        out.append(series)
    return out


def screenshot(page_html: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": WIDTH + 32, "height": 900})
            page.goto(page_html.as_uri())
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.5, help="how long Prometheus scrapes the fleet")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "fleet-dashboard.png")
    ap.add_argument("--keep", type=Path, default=None, help="also keep the HTML page here")
    args = ap.parse_args(argv)
    # SIGTERM's default kills without unwinding: the finally blocks that stop the fleet
    # would not run, and its processes (own sessions) would outlive us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    title, panels = load_panels(DASHBOARD)
    with tempfile.TemporaryDirectory(prefix="baygate-dash-") as d:
        tmp = Path(d)
        (tmp / "logs").mkdir()
        procs = Processes(tmp / "logs")
        try:
            with fleet_running(tmp, procs) as (url, n):
                t0 = time.time()
                print(f"fleet of {n} agents scraped by {url}; running {args.minutes:g} min", flush=True)
                time.sleep(args.minutes * 60)
                t1 = time.time()
                results = [query(url, p, t0, t1) for p in panels]
        except BaseException:
            for log in sorted((tmp / "logs").glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
            raise
        empty = [p.title for p, r in zip(panels, results, strict=True) if not any(r)]
        caption = (
            f"Rendered by scripts/render_dashboard.py: a real Prometheus scraping {n} simulated agents "
            f"(baygate run; one dongle dropping its link, one camera unreachable, one NHTSA unreachable) "
            f"every 1 s for {args.minutes:g} min. Panels and queries: ops/grafana/baygate-fleet.json; "
            "the drawing is the script's, as Grafana cannot be installed on the build machine. "
            + (
                f"No data in: {', '.join(empty)} (nothing in this fleet produced those series)."
                if empty
                else ""
            )
        )
        page = tmp / "dashboard.html"
        page.write_text(render_html(title, panels, results, width=WIDTH, t0=t0, t1=t1, caption=caption))
        if args.keep:
            shutil.copy(page, args.keep)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB); panels with no data: {empty or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
