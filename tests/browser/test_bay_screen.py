"""The bay screen in a real browser while the agent runs on the ELM327 and camera
simulators: the VIN, the codes and a scan appear, the visit is finished, the report
opens and prints on A4 and Letter. Screenshots go to docs/img/ when
BAYGATE_SCREENSHOTS=1 (how the committed ones were made), else to the test's tmp dir."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.support.bay_agent import BAY, VIN, BayAgent, bay_agent
from tests.support.broker import Broker

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
WAIT_MS = 45_000  # the simulated adapter's real timing (ATZ ~1 s, protocol search) + enrichment


def _shots(tmp_path: Path) -> Path:
    return DOCS_IMG if os.environ.get("BAYGATE_SCREENSHOTS") == "1" else tmp_path


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"  # type: ignore[index]


def _viewer_cannot_act(browser: Browser, agent: BayAgent) -> None:
    # A view-only token sees the bay but cannot finish anything.
    viewer = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    viewer.goto(agent.url(f"bay/{BAY}", token="view"))
    expect(viewer.locator("#vin")).to_have_text(VIN, timeout=WAIT_MS)
    expect(viewer.locator('[data-card="Visit"]')).to_contain_text("view only")
    expect(viewer.locator("#finish")).to_have_count(0)
    viewer.goto(agent.url(""))
    expect(viewer.locator(f'a.bay-tile[data-bay="{BAY}"]')).to_contain_text(VIN)


def _clear_is_refused_while_the_engine_runs(page: Page) -> None:
    # The simulated engine runs: refused by the agent's own check, recorded as
    # dtc_clear, and said above the codes (which stay).
    page.click("#clear-codes")
    clear = page.locator("#clear")
    expect(clear).to_have_attribute("data-outcome", "refused", timeout=WAIT_MS)
    expect(clear).to_contain_text("engine runs")
    expect(page.locator('li[data-code="P0133"]').first).to_be_visible()


def test_bay_page_live_finish_and_report(browser: Browser, broker: Broker, tmp_path: Path) -> None:
    shots = _shots(tmp_path)
    with bay_agent(tmp_path, mqtt_url=broker.url) as agent:
        ctx = browser.new_context(viewport={"width": 800, "height": 480})  # the 7-inch bay panel
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requested: list[str] = []  # no CDN: every request goes to the agent itself
        page.on("request", lambda r: requested.append(r.url))
        page.goto(agent.url(f"bay/{BAY}"))
        assert "token=" not in page.url  # the deep link became a cookie

        expect(page.locator("#vin")).to_have_text(VIN, timeout=WAIT_MS)
        expect(page.locator("#mil")).to_have_text("MIL ON")
        p0301 = page.locator('li[data-code="P0301"]').first
        expect(p0301).to_contain_text("critical")
        expect(p0301).to_contain_text("isfire")  # the description, as the ECU's code means
        expect(page.locator("#scans li").first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator('figure[data-pid="RPM"] path')).to_have_attribute(
            "d", re.compile("L"), timeout=WAIT_MS
        )
        expect(page.locator('[data-card="Vehicle"]')).to_contain_text("FORD", timeout=WAIT_MS)
        expect(page.locator('[data-card="Visit"]')).to_contain_text("Pre-scan")
        _no_sideways_scroll(page)
        page.screenshot(path=str(shots / "bay-800x480.png"))
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(shots / "bay-tablet.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        _no_sideways_scroll(page)

        _viewer_cannot_act(browser, agent)  # while the visit is open

        page.on("dialog", lambda d: d.accept())
        _clear_is_refused_while_the_engine_runs(page)

        # The repair: codes cleared on the car, then the technician finishes the visit.
        agent.clear_codes_on_the_car()
        page.fill("#tech", "Dana")
        page.click("#finish")
        page.wait_for_url(re.compile(r"/ui/report/"), timeout=WAIT_MS)
        page.set_viewport_size({"width": 1000, "height": 1200})
        report = page.locator("article.print")
        expect(report).to_contain_text(VIN)
        expect(report).to_contain_text("Dana")
        expect(report.locator("table.facts")).to_contain_text(BAY)
        expect(report).to_contain_text("Post-scan")
        diff = report.locator("table.diff")
        expect(diff.locator("tr").first).to_contain_text("P0133")
        expect(diff.locator("tr", has_text="Still present")).to_contain_text("P0301")  # permanent
        page.screenshot(path=str(shots / "report.png"), full_page=True)
        page.emulate_media(media="print")
        expect(page.locator("header")).to_be_hidden()
        for fmt in ("A4", "Letter"):
            pdf = page.pdf(format=fmt, print_background=False)
            pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
            assert 1 <= pages <= 2, f"{fmt}: {pages} pages"
        assert errors == []
        assert requested and all(u.startswith(agent.base + "/") for u in requested), requested

        ctx.close()
