"""`baygate ui url` as a subprocess: the URL carries the right token, the QR code
encodes the same URL, and bad input is one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import zxingcpp

SHOP = """
[agent]
shop_id = "shop-1"
agent_id = "bay-1"
state_dir = "{state}"
[[obd.dongles]]
name = "v1"
url = "tcp://127.0.0.1:1"
bay = "2"
[ui]
bind = "127.0.0.1"
port = 9555
{extra}
"""


def _run(tmp_path: Path, *args: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(SHOP.format(state=tmp_path / "state", extra=extra))
    return subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(cfg), "ui", "url", *args],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_url_carries_the_action_token_or_the_view_token(tmp_path: Path) -> None:
    act = _run(tmp_path, "--bay", "2", "--no-qr")
    assert act.returncode == 0, act.stderr
    tokens = json.loads((tmp_path / "state" / "ui-tokens.json").read_text())
    assert act.stdout.strip() == f"http://127.0.0.1:9555/ui/bay/2?token={tokens['act']}"
    view = _run(tmp_path, "--read-only", "--no-qr")
    assert view.stdout.strip() == f"http://127.0.0.1:9555/ui/?token={tokens['view']}"
    assert (tmp_path / "state" / "ui-tokens.json").stat().st_mode & 0o077 == 0


def test_the_qr_code_is_printed_under_the_url(tmp_path: Path) -> None:
    out = _run(tmp_path, "--bay", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("http://127.0.0.1:9555/ui/bay/2?token=")
    # Half-block characters: each is two modules stacked. Rebuild the image and let
    # zxing-cpp (the camera driver's decoder, not segno) read it back.
    top = {"█": 1, "▀": 1, "▄": 0, " ": 0}
    bottom = {"█": 1, "▀": 0, "▄": 1, " ": 0}
    rows = [r for ln in lines[1:] for r in ([top[c] for c in ln], [bottom[c] for c in ln])]
    light = np.array(rows, dtype=np.uint8) * 255  # a block is a lit character cell
    image = np.kron(light, np.ones((6, 6), dtype=np.uint8))
    decoded = zxingcpp.read_barcodes(image)
    assert [d.text for d in decoded] == [lines[0]]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = _run(tmp_path, "--bay", "nope", "--no-qr")
    assert bad.returncode == 2 and "no bay 'nope'" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    off = _run(tmp_path, "--no-qr", extra="enabled = false")
    assert off.returncode == 2 and "ui.enabled" in off.stderr and "Traceback" not in off.stderr
