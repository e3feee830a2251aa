"""The shipped Grafana dashboard drawn without Grafana: sans-IO half of render_dashboard.py.

Grafana cannot be installed on the build machine (not in Debian; its APT repository and
download site are unreachable from it), so scripts/render_dashboard.py evaluates the
dashboard's own queries on a real Prometheus and draws the panels here: the same grid
(24 columns, rows of 30 px with 8 px gaps, as Grafana's react-grid-layout), a dark theme
close to Grafana's default, SVG line charts for `timeseries`, big numbers for `stat`,
rows of labels for `table`. Everything here is pure: JSON in, query plan and HTML out.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GRID_COLUMNS",
    "Box",
    "Panel",
    "Series",
    "Target",
    "format_value",
    "layout",
    "legend",
    "load_panels",
    "render_html",
    "substitute",
]

GRID_COLUMNS = 24
ROW_PX = 30  # Grafana's GRID_CELL_HEIGHT
GAP_PX = 8  # Grafana's GRID_CELL_VMARGIN (and the horizontal margin)
# Grafana's classic palette, in its order: a series keeps its colour across a redraw.
PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
           "#37872d", "#fade2a")  # fmt: skip
BG, PANEL_BG, BORDER, TEXT, MUTED = "#111217", "#181b1f", "#2c3235", "#ccccdc", "#8e8e8e"
# The $__rate_interval Grafana would pick for a 1 s scrape at this step is
# max(4 x scrape, step + scrape) = 4 s; 15 s smooths the simulated fleet's bursts
# (a dongle that drops every 3rd reply) into readable lines.
DEFAULT_VARIABLES = {"$__rate_interval": "15s", "$shop": ".*", "$agent": ".*"}
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Target:
    ref: str
    expr: str  # variables substituted
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # "timeseries", "stat" or "table"
    x: int
    y: int
    w: int
    h: int
    unit: str
    targets: tuple[Target, ...]

    @property
    def instant(self) -> bool:
        """Stat and table panels show the latest value (Grafana's instant query)."""
        return self.kind != "timeseries"


@dataclass(frozen=True)
class Box:
    """A panel's place in CSS pixels on a page `width` wide."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Series:
    """One result series: its labels and (unix time, value) points (one for an instant query)."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


def substitute(expr: str, variables: Mapping[str, str] = DEFAULT_VARIABLES) -> str:
    """Grafana's template variables ($name and ${name}) replaced; an unknown one is an error
    (a query sent with a literal `$x` would fail on the server with a worse message)."""
    names = {k.lstrip("$"): v for k, v in variables.items()}

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in names:
            raise KeyError(f"dashboard variable ${name} has no value (known: {', '.join(sorted(names))})")
        return names[name]

    return _VAR.sub(one, expr)


def load_panels(path: Path, variables: Mapping[str, str] = DEFAULT_VARIABLES) -> tuple[str, list[Panel]]:
    """(dashboard title, its panels in reading order) with every query made concrete."""
    dash = json.loads(path.read_text())
    panels = []
    for p in dash["panels"]:
        grid = p["gridPos"]
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        targets = tuple(
            Target(t.get("refId", chr(65 + i)), substitute(t["expr"], variables), t.get("legendFormat", ""))
            for i, t in enumerate(p.get("targets", []))
        )
        panels.append(Panel(p["title"], p["type"], grid["x"], grid["y"], grid["w"], grid["h"], unit, targets))
    panels.sort(key=lambda p: (p.y, p.x))
    return dash.get("title", "dashboard"), panels


def layout(panels: Sequence[Panel], width: int) -> list[Box]:
    """Grafana's grid in pixels: column width = (width - 23 gaps) / 24, a row 30 px + 8 px gap."""
    col = (width - GAP_PX * (GRID_COLUMNS - 1)) / GRID_COLUMNS
    return [
        Box(
            left=round(p.x * (col + GAP_PX)),
            top=p.y * (ROW_PX + GAP_PX),
            width=round(p.w * col + (p.w - 1) * GAP_PX),
            height=p.h * ROW_PX + (p.h - 1) * GAP_PX,
        )
        for p in panels
    ]


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    """Grafana's legendFormat: `{{label}}` replaced by the series' label (empty if absent)."""
    if not fmt:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{{{inner}}}"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()


def format_value(v: float, unit: str) -> str:
    """Grafana-like short units: s, bytes (binary), ops/fps suffixes, SI k/M/G otherwise."""
    if math.isnan(v):
        return "NaN"
    if unit == "bytes":
        for suffix, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(v) >= scale:
                return f"{v / scale:.3g} {suffix}"
        return f"{v:.0f} B"
    if unit == "s" and abs(v) >= 60:
        return f"{v / 60:.3g} min"
    text = f"{v:.3g}"
    for suffix, big in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= big:
            text = f"{v / big:.3g}{suffix}"
            break
    return text + {"s": " s", "ops": " ops/s", "fps": " fps"}.get(unit, "")


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round axis ticks (1, 2, 5 x 10^k steps) covering lo..hi."""
    span = hi - lo or abs(hi) or 1.0
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(n + 2) if first + i * step <= hi + step * 0.999]


def _time_ticks(t0: float, t1: float) -> list[float]:
    """Whole 15/30/60/300 s marks inside t0..t1, about 5 of them (Grafana's time axis)."""
    step = next((s for s in (15, 30, 60, 300, 600) if (t1 - t0) / s <= 6), 3600)
    first = math.ceil(t0 / step) * step
    return [float(t) for t in range(int(first), int(t1) + 1, step)]


def _timeseries_svg(panel: Panel, results: Sequence[Sequence[Series]], box: Box, t0: float, t1: float) -> str:
    named = [
        (legend(t.legend, s.labels), s) for t, res in zip(panel.targets, results, strict=True) for s in res
    ]
    if not named:
        return ""
    values = [v for _, s in named for _, v in s.points if math.isfinite(v)]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    ticks = _ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    legend_rows = min(len(named), 4)
    more = len(named) > legend_rows
    w, h = box.width - 16, box.height - 40 - 16 * (legend_rows + more)
    ax, top = 62, 6  # y-axis label column; room for the top tick's label
    pw, ph = w - ax - 4, h - 18 - top

    def px(t: float, v: float) -> tuple[float, float]:
        return ax + (t - t0) / (t1 - t0 or 1) * pw, top + ph - (v - lo) / (hi - lo or 1) * ph

    out = [f'<svg width="{w}" height="{h}" class="chart">']
    for tv in ticks:
        _, y = px(t0, tv)
        out.append(f'<line x1="{ax}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{ax - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f"{html.escape(format_value(tv, panel.unit))}</text>")  # fmt: skip
    for t in _time_ticks(t0, t1):
        x, _ = px(t, lo)
        label = time.strftime("%H:%M:%S", time.gmtime(t))
        out.append(f'<text x="{x:.1f}" y="{h - 3}" class="axis" text-anchor="middle">{label}</text>')
    for i, (_, s) in enumerate(named):
        colour = PALETTE[i % len(PALETTE)]
        pts = " ".join("{:.1f},{:.1f}".format(*px(t, v)) for t, v in s.points if math.isfinite(v))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    out.append("</svg>")
    keys = []
    for i, (name, s) in enumerate(named[:legend_rows]):
        last = format_value(s.points[-1][1], panel.unit) if s.points else ""
        keys.append(f'<div class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
                    f"{html.escape(name)}<span>{html.escape(last)}</span></div>")  # fmt: skip
    if more:
        keys.append(f'<div class="key more">+{len(named) - legend_rows} more series</div>')
    return "".join(out) + "".join(keys)


def _stat_html(panel: Panel, results: Sequence[Sequence[Series]]) -> str:
    cells = []
    for t, res in zip(panel.targets, results, strict=True):
        for s in res:
            v = s.points[-1][1]
            colour = "#f2495c" if ("down" in panel.title.lower() and v > 0) else PALETTE[0]
            shown, name = html.escape(format_value(v, panel.unit)), html.escape(legend(t.legend, s.labels))
            cells.append(
                f'<div class="stat"><b style="color:{colour}">{shown}</b><small>{name}</small></div>'
            )
    return f'<div class="stats">{"".join(cells)}</div>' if cells else ""


def _table_html(panel: Panel, results: Sequence[Sequence[Series]]) -> str:
    rows = [s for res in results for s in res]
    if not rows:
        return ""
    cols = sorted({k for s in rows for k in s.labels if k not in ("__name__", "job", "instance")})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [*cols, "Value"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(s.labels.get(c, ''))}</td>" for c in cols)
        + f"<td>{html.escape(format_value(s.points[-1][1], panel.unit))}</td></tr>"
        for s in rows
    )  # fmt: skip
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(
    title: str,
    panels: Sequence[Panel],
    results: Sequence[Sequence[Sequence[Series]]],
    *,
    width: int,
    t0: float,
    t1: float,
    caption: str,
) -> str:
    """The whole page: `results[i][j]` is the series of panel i's target j."""
    boxes = layout(panels, width)
    parts = []
    for panel, box, res in zip(panels, boxes, results, strict=True):
        if panel.kind == "timeseries":
            body = _timeseries_svg(panel, res, box, t0, t1)
        elif panel.kind == "stat":
            body = _stat_html(panel, res)
        else:
            body = _table_html(panel, res)
        body = body or '<div class="nodata">No data</div>'
        style = f"left:{box.left}px;top:{box.top}px;width:{box.width}px;height:{box.height}px"
        parts.append(f'<section style="{style}"><h2>{html.escape(panel.title)}</h2>{body}</section>')
    height = max(b.top + b.height for b in boxes)
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body{{margin:0;background:{BG};color:{TEXT};font:12px Inter,"DejaVu Sans",Arial,sans-serif}}
header{{padding:12px 16px 8px;display:flex;gap:16px;align-items:baseline}}
header h1{{font-size:18px;font-weight:500;margin:0}} header span{{color:{MUTED}}}
.vars{{padding:0 16px 10px;color:{MUTED}}} .vars b{{color:{TEXT};background:{PANEL_BG};
border:1px solid {BORDER};padding:3px 8px;margin:0 12px 0 4px;font-weight:400}}
main{{position:relative;margin:0 16px;height:{height}px}}
section{{position:absolute;box-sizing:border-box;background:{PANEL_BG};border:1px solid {BORDER};
border-radius:2px;padding:6px 8px;overflow:hidden}}
h2{{font-size:13px;font-weight:500;margin:0 0 8px}}
.axis{{fill:{MUTED};font-size:10px}} .grid{{stroke:{BORDER};stroke-width:1}}
.key{{display:flex;align-items:center;gap:6px;height:16px;color:{TEXT};white-space:nowrap}}
.key i{{display:inline-block;width:14px;height:4px;border-radius:2px}}
.key span{{margin-left:auto;color:{MUTED}}} .more{{color:{MUTED}}}
.stats{{display:flex;height:calc(100% - 30px);align-items:center;justify-content:space-around}}
.stat{{text-align:center}} .stat b{{display:block;font-size:56px;font-weight:500}}
.stat small{{color:{MUTED};font-size:13px}}
.nodata{{color:{MUTED};text-align:center;margin-top:20%;font-size:14px}}
table{{border-collapse:collapse;width:100%}} th{{text-align:left;color:#6e9fff;font-weight:500}}
th,td{{padding:4px 6px;border-bottom:1px solid {BORDER}}}
footer{{margin:12px 16px 16px;color:{MUTED};font-size:12px}}
</style></head><body>
<header><h1>{html.escape(title)}</h1><span>{time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0))} to
{time.strftime("%H:%M:%S", time.gmtime(t1))} UTC, 1 s scrape</span></header>
<div class="vars">Shop<b>All</b>Agent<b>All</b></div>
<main style="width:{width}px">{"".join(parts)}</main>
<footer>{html.escape(caption)}</footer>
</body></html>"""
