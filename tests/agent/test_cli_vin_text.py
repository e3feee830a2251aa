"""`baygate vin decode` as a technician reads it: the real command against the NHTSA
simulator (a subprocess; the simulator as the producer of what vPIC would say)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.services.faults import FaultPlan, parse_fault
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.agent.test_cli_errors import BAYGATE, baygate

SILVERADO = "1GCUYDED6KZ104455"


@pytest.fixture
def nhtsa() -> Iterator[ServiceServer]:
    with ServiceServer(NhtsaApp()) as s:
        yield s


def urls(root: str) -> list[str]:
    return ["--vpic-url", f"{root}/api/vehicles/", "--recalls-url", f"{root}/"]


def test_a_decode_never_prints_python_none(nhtsa: ServiceServer) -> None:
    # vPIC leaves trim, engine and plant empty for many vehicles; none may print as "None".
    for vin in (SILVERADO, "1FTFW1ET9DFC10312", "1HGCM82633A004352"):
        r = baygate("vin", "decode", vin, *urls(nhtsa.url))
        assert "None" not in r.stdout, r.stdout
        assert "nhtsa (network)" in r.stdout or "nhtsa:" in r.stdout


def test_a_north_american_vin_with_a_wrong_check_digit_is_invalid() -> None:
    r = baygate("vin", "decode", "1HGCM82633A004353", "--offline")
    assert r.returncode == 1
    assert r.stdout.startswith("VIN 1HGCM82633A004353: INVALID, CHECK DIGIT WRONG")
    # Elsewhere the check digit is optional: a German VIN is still valid.
    r = baygate("vin", "decode", "WDB1234567890123X", "--offline")
    assert r.returncode == 0 and ": valid, CHECK DIGIT WRONG" in r.stdout


def test_offline_wording_only_when_asked() -> None:
    r = baygate("vin", "decode", "NOT-A-VIN")
    assert "--offline" not in r.stdout and "nhtsa: not asked (not a VIN)" in r.stdout
    assert r.returncode == 1


def test_garbage_bytes_are_shown_escaped() -> None:
    r = subprocess.run(
        [BAYGATE, "vin", "decode", b"AB\x1b[31mC\x07\xff", "--offline"], capture_output=True, check=False
    )
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout
    assert b"VIN AB\\x1b[31MC\\x07\\xff: INVALID" in r.stdout
    assert r.returncode == 1


def test_offline_facts_print_before_nhtsa_answers(tmp_path: Path) -> None:
    plan = FaultPlan(persistent=parse_fault("timeout"))
    with ServiceServer(NhtsaApp(), plan=plan, hang_s=5.0) as hung:
        cfg = tmp_path / "agent.toml"
        cfg.write_text(
            f'[agent]\nshop_id = "s"\nagent_id = "a"\nstate_dir = "{tmp_path / "state"}"\n'
            "[enrich]\nretry_attempts = 1\ncall_deadline_s = 3\n[enrich.nhtsa]\ntimeout_s = 2\n"
        )
        with subprocess.Popen(
            [BAYGATE, "--config", str(cfg), "vin", "decode", SILVERADO, *urls(hung.url)],
            stdout=subprocess.PIPE, text=True,
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            first = proc.stdout.readline()
            still_waiting_for_nhtsa = proc.poll() is None
            rest = proc.stdout.read()
            proc.wait(timeout=60)
    assert first.startswith(f"VIN {SILVERADO}: valid")
    assert still_waiting_for_nhtsa
    assert "  nhtsa: " in rest and "None" not in rest
