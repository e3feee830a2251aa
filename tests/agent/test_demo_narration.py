"""`baygate demo` reads well: the real command (what `make demo` runs), its whole output."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.agent.test_cli_errors import BAYGATE


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run([BAYGATE, "demo"], capture_output=True, text=True, timeout=300, check=False)


def test_the_demo_passes_and_never_prints_none(demo: subprocess.CompletedProcess[str]) -> None:
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "steps ok" in demo.stdout
    assert not re.search(r"\bNone\b", demo.stdout), [ln for ln in demo.stdout.splitlines() if "None" in ln]


def test_log_lines_stay_out_of_the_narration(demo: subprocess.CompletedProcess[str]) -> None:
    assert not any(ln.startswith("{") for ln in demo.stdout.splitlines() + demo.stderr.splitlines())


def test_live_values_are_shown_not_only_a_rate(demo: subprocess.CompletedProcess[str]) -> None:
    line = next(ln for ln in demo.stdout.splitlines() if "live values:" in ln)
    assert re.search(r"RPM \d+(\.\d+)? rpm", line) and re.search(r"SPEED \d+ km/h", line), line


def test_a_code39_vin_with_an_import_prefix_shows_the_vin_it_carries(
    demo: subprocess.CompletedProcess[str],
) -> None:
    # The camera simulator prints some VIN labels as Code 39 with an 'I' import prefix.
    hits = re.findall(r"CODE39 vin (I[A-HJ-NPR-Z0-9]{17}) = VIN ([A-HJ-NPR-Z0-9]{17})\b", demo.stdout)
    assert hits and all(payload[1:] == vin for payload, vin in hits), demo.stdout


def test_acks_are_explained_in_words(demo: subprocess.CompletedProcess[str]) -> None:
    line = next(ln for ln in demo.stdout.splitlines() if "broker acknowledged" in ln)
    assert "the backend confirmed" in line and "sent again" in line


def test_the_obd_step_finds_its_dongle_by_a_ble_scan(demo: subprocess.CompletedProcess[str]) -> None:
    # The fake radio of `--simulated-ble`: five dongles; the strongest is the bay's.
    lines = demo.stdout.splitlines()
    scan = next(ln for ln in lines if "BLE scan" in ln)
    assert "5 OBD dongles: Vgate iCar Pro -58 dBm, OBDLink CX -66 dBm" in scan, scan
    assert any("dongle ble://AA:BB:CC:00:00:01?layout=fff0 (Vgate iCar Pro" in ln for ln in lines)
    assert any("baygate obd read --simulated-ble" in ln for ln in lines)
