"""Every command's --help reads well: a one-line description, an example, help for every
argument (positionals included) and the valid values where there is a fixed set. Run as
the installed `baygate` (a subprocess per command)."""

from __future__ import annotations

import argparse
import subprocess

import pytest

from agent.cli import build_parser
from tests.agent.test_cli_errors import BAYGATE


def command_paths() -> list[list[str]]:
    """Every subcommand and nested subcommand of the real parser."""
    out: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    out.append([*path, name])
                    walk(child, [*path, name])

    walk(build_parser(), [])
    return out + [["simulate", s] for s in ("elm327", "camera", "nhtsa", "manufacturer")]


def help_of(path: list[str]) -> str:
    r = subprocess.run([BAYGATE, *path, "--help"], capture_output=True, text=True, timeout=60, check=True)
    assert r.stderr == ""
    return r.stdout


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_help_has_a_description_an_example_and_help_for_every_argument(path: list[str]) -> None:
    text = help_of(path)
    blocks = text.split("\n\n")
    assert blocks[1].strip() and not blocks[1].lstrip().startswith(("positional", "options")), text
    assert "example" in text.split("options:")[-1], text
    # argparse prints an argument without help as a bare name on its line.
    for section in ("positional arguments:", "options:"):
        if section not in text:
            continue
        body = text.split(section, 1)[1].split("\n\n", 1)[0].splitlines()
        for line in body:
            if line.startswith("  ") and not line.startswith("   "):
                words = line.split("  ")
                alone = len([w for w in words if w.strip()]) == 1
                nxt = body[body.index(line) + 1] if body.index(line) + 1 < len(body) else ""
                assert not alone or nxt.startswith(" " * 10), f"{' '.join(path)}: no help for {line!r}"


@pytest.mark.parametrize(
    ("path", "values"),
    [
        (["simulate", "camera"], ["gs1_datamatrix", "vin_plate", "blur_heavy", "lowlight"]),
        (["simulate", "elm327"], ["drop", "silent", "split"]),
        (["simulate", "nhtsa"], ["503", "timeout", "garbage"]),
        (["obd", "watch"], ["RPM", "COOLANT_TEMP", "FUEL_RATE"]),
        # --simulated-ble: the fake radio's dongles and the cars it may put them in
        (["obd", "discover"], ["--simulated-ble", "OBDII", "petrol-can", "truck-can29"]),
        (["obd", "read"], ["--simulated-ble", "ble://name=OBDII", "iso9141-legacy"]),
        (["run"], ["--simulated-ble", "diesel-can", "config/agent.example.toml"]),
        (["registration", "list"], ["MANUAL_REQUIRED"]),
        (["simulate"], ["elm327", "camera", "nhtsa", "manufacturer"]),
    ],
)
def test_help_lists_the_valid_values(path: list[str], values: list[str]) -> None:
    text = " ".join(help_of(path).split())
    for v in values:
        assert v in text, (path, v)
