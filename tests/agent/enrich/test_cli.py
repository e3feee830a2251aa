"""`baygate vin` and `baygate registration` end to end (in-process CLI, real fake server)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.enrich.db import StateDB
from agent.enrich.registrations import RegistrationStore
from simulators.services.server import ServiceServer
from tests.support.enrich import faults

SILVERADO = "1GCUYDED6KZ104455"


def fake_urls(root: str) -> list[str]:
    """The simulator serves both NHTSA services, each at its real path."""
    return ["--vpic-url", f"{root}/api/vehicles/", "--recalls-url", f"{root}/"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_vin_decode_json_has_the_documented_shape(
    nhtsa_server: ServiceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_json(capsys, "vin", "decode", SILVERADO, "--json", *fake_urls(nhtsa_server.url))
    assert code == 0
    assert {"vin", "valid", "check_digit_ok", "offline", "nhtsa", "stale"} <= set(out)
    assert out["valid"] is True and out["check_digit_ok"] is True and out["stale"] is False
    assert out["offline"] == {"manufacturer": "Chevrolet", "country": "United States", "model_year": 2019,
                              "partial": False, "problems": []}  # fmt: skip
    n = out["nhtsa"]
    assert isinstance(n, dict)
    for key in ("make", "model", "model_year", "trim", "body_class", "engine", "fuel_type", "plant_country",
                "error_codes", "suggested_vin"):  # fmt: skip
        assert key in n
    assert (n["make"], n["model"], n["error_codes"], n["source"]) == (
        "CHEVROLET",
        "Silverado",
        [0],
        "network",
    )


def test_vin_decode_offline_and_unreachable(
    capsys: pytest.CaptureFixture[str], nhtsa_server: ServiceServer
) -> None:
    code, out = run_json(capsys, "vin", "decode", SILVERADO, "--offline", "--json")
    assert code == 0 and out["nhtsa"] is None and out["nhtsa_error"] is None
    faults(nhtsa_server, persistent="403")
    code, out = run_json(capsys, "vin", "decode", SILVERADO, "--json", *fake_urls(nhtsa_server.url))
    assert code == 0 and out["nhtsa"] is None and "403" in str(out["nhtsa_error"])
    code, out = run_json(capsys, "vin", "decode", "1GCUYDED6KZ10445O", "--offline", "--json")
    assert code == 1 and out["valid"] is False


def test_vin_recalls(capsys: pytest.CaptureFixture[str], nhtsa_server: ServiceServer) -> None:
    code, out = run_json(capsys, "vin", "recalls", SILVERADO, "--json", *fake_urls(nhtsa_server.url))
    assert code == 0 and out["model_matched"] == "SILVERADO 1500"
    assert [r["campaign"] for r in out["recalls"]] == ["19V645000"]  # type: ignore[attr-defined]
    assert main(["vin", "recalls", SILVERADO, *fake_urls(nhtsa_server.url)]) == 0
    assert "19V645000" in capsys.readouterr().out


def test_registration_list_show_complete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[agent]\nshop_id = "s1"\nagent_id = "a1"\nstate_dir = "{state}"\n')

    async def seed() -> str:
        db = StateDB(state / "enrich.sqlite")
        store = RegistrationStore(db)
        reg = await store.create("apple", "C02XK1ABJGH5", {"serial": "C02XK1ABJGH5"}, "high", None)
        manual = {"url": "https://x/", "steps": ["Run: baygate registration complete <id>"]}
        await store.update(reg.id, status="MANUAL_REQUIRED", manual=manual)
        await store.add_attempt(reg.id, "manual", started=0, duration=0.001, outcome="manual", error=None)
        db.close()
        return reg.id

    rid = asyncio.run(seed())
    code, out = run_json(capsys, "--config", str(cfg), "registration", "list", "--json")
    regs = out["registrations"]
    assert code == 0 and isinstance(regs, list) and regs[0]["status"] == "MANUAL_REQUIRED"
    assert main(["--config", str(cfg), "registration", "show", rid]) == 0
    shown = capsys.readouterr().out
    assert f"baygate registration complete {rid}" in shown and "attempt 1: manual" in shown
    assert main(["--config", str(cfg), "registration", "complete", rid]) == 0
    assert "USER_COMPLETED" in capsys.readouterr().out
    assert main(["--config", str(cfg), "registration", "complete", rid]) == 1  # already completed
    assert main(["--config", str(cfg), "registration", "complete", "reg-nope"]) == 1
