"""Bay screen benchmark: `baygate run` on the ELM327 + camera simulators and the fake
NHTSA (the live path running), the bay page in headless Debian Chromium.

Figures (issue 15 targets in brackets):
  - record commit -> visible on the page, p50/p95 [p95 <= 1 s]: commit time is the
    outbox row's `created` (taken inside the group commit), visible is the browser's
    Date.now() at the first frame after the DOM shows the record (window.__seen);
    baseline in the same run: the same records arriving at a bare SSE client (httpx);
  - page weight: bytes of the document, script, stylesheet and first JSON [<= 300 KB];
  - first paint / first contentful paint of the bay page in a fresh browser [<= 1 s];
  - agent RSS: with [ui] disabled (baseline), with the screen on and no client, and
    after the window with two clients open (bay page + overview) [growth <= 40 MB].
The last line printed is one JSON object with the headline figures.

    .venv/bin/python bench/ui.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.bay_agent import BAY, VIN, BayAgent, bay_agent

CHROMIUM = "/usr/bin/chromium"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def commit_times(state: Path) -> dict[int, float]:
    """seq -> created (epoch seconds) of every row still in the outbox (no broker: all)."""
    db = sqlite3.connect(f"file:{state / 'outbox.sqlite3'}?mode=ro", uri=True)
    try:
        return {seq: created for seq, created in db.execute("SELECT seq, created FROM rows")}
    finally:
        db.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def sse_client(agent: BayAgent, stop: threading.Event, out: dict[str, float]) -> None:
    """The baseline: a bare SSE reader, noting when each record's event arrives."""
    url = f"{agent.base}/ui/api/events?bay={BAY}&token={agent.tokens['view']}"
    with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=30)) as resp:
        for line in resp.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data: "):
                now = time.time()
                rec = json.loads(line[6:]).get("record")
                if rec:
                    out.setdefault(rec, now)


def page_weight(page: Page, agent: BayAgent) -> tuple[int, dict[str, int]]:
    sizes: dict[str, int] = {}

    def on_response(resp: Any) -> None:
        if "/api/events" in resp.url:
            return  # the event stream is not page weight
        try:
            sizes[resp.url.split("?")[0].removeprefix(agent.base)] = len(resp.body())
        except Exception:  # a redirect has no body
            sizes.setdefault(resp.url.split("?")[0].removeprefix(agent.base), 0)

    page.on("response", on_response)
    page.goto(agent.url(f"bay/{BAY}"))
    page.wait_for_function(f"document.getElementById('vin')?.textContent === '{VIN}'", timeout=60_000)
    page.remove_listener("response", on_response)
    return sum(sizes.values()), sizes


def two_clients(agent: BayAgent, browser: Browser, window: float) -> dict[str, Any]:
    """The bay page + the overview (and a bare SSE reader) open for `window` seconds:
    commit -> visible latencies on the page and at the SSE reader, and the agent's RSS."""
    rss_before = rss_mb(agent.proc.pid)
    page = browser.new_context(viewport={"width": 800, "height": 480}).new_page()
    page.goto(agent.url(f"bay/{BAY}"))
    overview = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    overview.goto(agent.url(""))
    stop = threading.Event()
    sse_seen: dict[str, float] = {}
    reader = threading.Thread(target=sse_client, args=(agent, stop, sse_seen), daemon=True)
    reader.start()
    started = time.time()
    while time.time() - started < window:
        page.wait_for_timeout(500)
    seen: dict[str, float] = page.evaluate("window.__seen")
    stop.set()
    rss_after = rss_mb(agent.proc.pid)
    created = commit_times(agent.state)

    def latencies(marks: dict[str, float], scale: float) -> list[float]:
        lat = []
        for rid, t in marks.items():
            seq = int(rid.rsplit(":", 1)[1]) if rid.count(":") == 2 else None
            if seq in created and created[seq] >= started - 1:
                lat.append(t / scale - created[seq])
        return lat

    page.context.close()
    overview.context.close()
    return {"page": latencies(seen, 1000.0), "sse": latencies(sse_seen, 1.0),
            "rss_before": rss_before, "rss_after": rss_after}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="15 s windows instead of 60 s")
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args()
    window = args.seconds or (15.0 if args.quick else 60.0)
    settle = 5.0  # the first report, enrichment and telemetry flowing
    out: dict[str, Any] = {"window_s": window}

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # 1. RSS: the camera simulator source is left out here: `sim:` frames grow the
        #    agent by ~15 MB/s with or without the screen (reported to the camera owner),
        #    which would drown what the screen costs.
        (Path(tmp) / "a").mkdir()
        with bay_agent(Path(tmp) / "a", camera=None, env={"BAYGATE__UI__ENABLED": "false"}) as agent:
            time.sleep(settle + window)
            out["rss_no_ui_mb"] = round(rss_mb(agent.proc.pid), 1)
        (Path(tmp) / "b").mkdir()
        with bay_agent(Path(tmp) / "b", camera=None) as agent:
            time.sleep(settle)
            rss = two_clients(agent, browser, window)
            out["rss_ui_no_client_mb"] = round(rss["rss_before"], 1)
            out["rss_ui_two_clients_mb"] = round(rss["rss_after"], 1)

        # 2. Latency, first paint and weight with the whole live path: dongle, camera, NHTSA.
        (Path(tmp) / "c").mkdir()
        with bay_agent(Path(tmp) / "c") as agent:
            cold = browser.new_context(viewport={"width": 800, "height": 480})
            page = cold.new_page()
            t0 = time.time()
            weight, parts = page_weight(page, agent)
            out["first_data_s"] = round(time.time() - t0, 3)  # until the VIN is on screen
            paints = page.evaluate(
                "Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
            )
            nan = float("nan")
            out["first_paint_s"] = round(paints.get("first-paint", nan) / 1000, 3)
            out["first_contentful_paint_s"] = round(paints.get("first-contentful-paint", nan) / 1000, 3)
            out["page_weight_kb"] = round(weight / 1024, 1)
            cold.close()
            lat = two_clients(agent, browser, window)
        browser.close()

    page_lat, sse_lat = lat["page"], lat["sse"]
    out["records_seen_on_page"] = len(page_lat)
    out["commit_to_visible_p50_s"] = round(pct(page_lat, 0.50), 3)
    out["commit_to_visible_p95_s"] = round(pct(page_lat, 0.95), 3)
    out["commit_to_visible_max_s"] = round(max(page_lat, default=float("nan")), 3)
    out["baseline_sse_p50_s"] = round(pct(sse_lat, 0.50), 3)
    out["baseline_sse_p95_s"] = round(pct(sse_lat, 0.95), 3)
    out["rss_growth_two_clients_mb"] = round(out["rss_ui_two_clients_mb"] - out["rss_ui_no_client_mb"], 1)
    out["rss_ui_over_no_ui_mb"] = round(out["rss_ui_two_clients_mb"] - out["rss_no_ui_mb"], 1)

    print(f"windows: {window:.0f} s; ELM327 simulator, camera simulator (latency run) and fake NHTSA")
    print(
        f"commit -> visible on the page: p50 {out['commit_to_visible_p50_s']:.3f} s, "
        f"p95 {out['commit_to_visible_p95_s']:.3f} s over {len(page_lat)} records (target p95 <= 1 s)"
    )
    print(
        f"  baseline, bare SSE client:    p50 {out['baseline_sse_p50_s']:.3f} s, "
        f"p95 {out['baseline_sse_p95_s']:.3f} s over {len(sse_lat)} records"
    )
    print(f"page weight: {out['page_weight_kb']} KB (target <= 300 KB): {parts}")
    print(
        f"first paint {out['first_paint_s']} s, first contentful paint {out['first_contentful_paint_s']} s "
        f"(target <= 1 s); VIN on screen after {out['first_data_s']} s"
    )
    print(
        f"agent RSS after {settle + window:.0f} s: no UI {out['rss_no_ui_mb']} MB; with the UI "
        f"{out['rss_ui_no_client_mb']} MB before clients, {out['rss_ui_two_clients_mb']} MB after "
        f"{window:.0f} s with two -> growth {out['rss_growth_two_clients_mb']} MB (target <= 40 MB)"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
