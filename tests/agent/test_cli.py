"""The command line: subcommands, exit codes, and honest refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import SUBCOMMANDS, main


def test_help_lists_every_product_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "demo", "simulate", "backend", "obd", "scan", "vin", "doctor", "schema"):
        assert name in SUBCOMMANDS
        assert f"\n    {name} " in out


def test_schema_writes_one_valid_json_schema_per_kind(tmp_path: Path) -> None:
    assert main(["schema", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "scan.schema.json" in files and "vehicle_report.schema.json" in files
    for f in tmp_path.iterdir():
        assert json.loads(f.read_text())["$schema"].startswith("https://json-schema.org/")


def test_unknown_simulator_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "no-such-sim"]) == 2
    assert "unknown simulator" in capsys.readouterr().err


def test_missing_default_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "doctor"]) == 2
    assert "not found" in capsys.readouterr().err
