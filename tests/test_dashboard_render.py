"""scripts/dashboard_view.py on the shipped dashboard: the sans-IO half of render_dashboard.py.

The full render (a fleet, Prometheus, Chromium; minutes) is not run here; what it relies
on is: every panel of ops/grafana/baygate-fleet.json becomes a box on Grafana's grid,
every query comes out concrete (no `$`) and parses in promtool, and the page draws a
panel's data, or says "No data" when a query returned nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.dashboard_view import (
    GRID_COLUMNS,
    Series,
    format_value,
    layout,
    legend,
    load_panels,
    render_html,
    substitute,
)

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "ops" / "grafana" / "baygate-fleet.json"
WIDTH = 1400


def test_every_panel_is_loaded_with_every_target() -> None:
    raw = json.loads(DASHBOARD.read_text())
    _, panels = load_panels(DASHBOARD)
    assert len(panels) == len(raw["panels"]) > 0
    assert sum(len(p.targets) for p in panels) == sum(len(p["targets"]) for p in raw["panels"])
    assert {p.kind for p in panels} <= {"timeseries", "stat", "table"}  # the kinds the renderer draws


def test_every_panel_gets_its_own_box_on_the_grid() -> None:
    _, panels = load_panels(DASHBOARD)
    boxes = layout(panels, WIDTH)
    assert len(boxes) == len(panels)
    for p, b in zip(panels, boxes, strict=True):
        assert p.x >= 0 and p.x + p.w <= GRID_COLUMNS
        assert b.width > 0 and b.height > 0 and b.left + b.width <= WIDTH
        if p.x + p.w == GRID_COLUMNS:  # a right-hand panel ends at the page's edge
            assert b.left + b.width == WIDTH
    for i, a in enumerate(boxes):  # no two panels overlap
        for b in boxes[i + 1 :]:
            apart = (a.left + a.width <= b.left or b.left + b.width <= a.left
                     or a.top + a.height <= b.top or b.top + b.height <= a.top)  # fmt: skip
            assert apart, (a, b)
    # Grafana's grid: h=8 rows is 8 x 30 px + 7 gaps of 8 px; the next row starts 8 x 38 px down
    assert boxes[0].height == 296 and {b.top for b in boxes} >= {0, 304}


def test_every_query_is_concrete_and_parses_in_promtool(tmp_path: Path) -> None:
    _, panels = load_panels(DASHBOARD)
    exprs = [t.expr for p in panels for t in p.targets]
    assert exprs and not [e for e in exprs if "$" in e]
    assert any("[15s]" in e for e in exprs) and any('shop=~".*"' in e for e in exprs)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed: apt-get install prometheus (Debian 12)"
    rules = [{"record": f"dash:q{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dash", "rules": rules}]}))  # JSON is YAML
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in checked.stdout


def test_substitute_knows_both_spellings_and_refuses_an_unknown_variable() -> None:
    got = substitute('rate(x{a=~"${agent}"}[$__rate_interval])', {"$agent": ".*", "$__rate_interval": "15s"})
    assert got == 'rate(x{a=~".*"}[15s])'
    with pytest.raises(KeyError, match=r"\$bay"):
        substitute('x{bay=~"$bay"}', {"$agent": ".*"})


def test_legend_and_units_read_as_grafana_would() -> None:
    assert legend("{{shop}}/{{agent}}", {"shop": "s1", "agent": "bay-1"}) == "s1/bay-1"
    assert legend("decodes {{agent}} {{camera}}", {"agent": "a"}) == "decodes a"
    assert legend("", {"__name__": "up", "job": "j"}) == '{job="j"}'
    assert format_value(5.5 * 2**30, "bytes") == "5.5 GiB"
    assert format_value(12.0, "ops") == "12 ops/s"
    assert format_value(150.0, "s") == "2.5 min"
    assert format_value(2500.0, "short") == "2.5K"


def test_the_page_draws_data_where_there_is_some_and_says_no_data_elsewhere() -> None:
    title, panels = load_panels(DASHBOARD)
    one = Series({"shop": "s1", "agent": "bay-1", "host": "h"}, ((1000.0, 1.0), (1060.0, 3.0), (1120.0, 2.0)))
    full = [[[one] for _ in p.targets] for p in panels]
    page = render_html(title, panels, full, width=WIDTH, t0=1000.0, t1=1120.0, caption="caption here")
    assert page.count("<section") == len(panels) and "No data" not in page
    charts = sum(p.kind == "timeseries" for p in panels)
    assert page.count("<polyline") == sum(len(p.targets) for p in panels if p.kind == "timeseries")
    assert page.count('class="chart"') == charts and "caption here" in page
    nothing: list[list[list[Series]]] = [[[] for _ in p.targets] for p in panels]
    empty = render_html(title, panels, nothing, width=WIDTH, t0=1000.0, t1=1120.0, caption="")
    assert empty.count("No data") == len(panels)
    assert not re.search(r"\bnan\b", page.lower())
