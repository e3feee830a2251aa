"""Config loading: the reference file is valid, and every kind of mistake names its key."""

from __future__ import annotations

import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.config import EXAMPLE_CONFIG, load_config, parse_config
from agent.errors import ConfigError
from agent.secret import Secret

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = EXAMPLE_CONFIG


def example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_reference_config_is_valid() -> None:
    cfg = load_config(EXAMPLE, environ={})
    assert cfg.agent.shop_id == "shop-001"
    assert cfg.obd.dongles[0].url == "ble://name=OBDII"
    assert cfg.mqtt.inflight == 100


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["mqtt"].update(urll="mqtt://x"), "mqtt.urll", "unknown key"),
        (lambda d: d["mqtt"].update(keepalive_s="soon"), "mqtt.keepalive_s", "integer"),
        (lambda d: d["mqtt"].update(url="http://x"), "mqtt.url", "mqtt://"),
        (lambda d: d["obd"]["dongles"][0].update(url="bluetooth:x"), "obd.dongles.0.url", "ble://"),
        (lambda d: d["agent"].pop("shop_id"), "agent.shop_id", "missing"),
        (lambda d: d["agent"].update(agent_id="bay/1"), "agent.agent_id", "pattern"),
        (lambda d: d["enrich"]["nhtsa"].update(rate_per_s=0), "enrich.nhtsa.rate_per_s", "greater than 0"),
        (lambda d: d.update(cameraz=[]), "cameraz", "unknown key"),
    ],
)
def test_mistakes_name_the_key(mutate, path: str, words: str) -> None:  # type: ignore[no-untyped-def]
    data = example()
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ={})
    assert info.value.path == path
    assert words in info.value.message


def test_environment_overrides_a_nested_key_with_a_typed_value() -> None:
    env = {"BAYGATE__MQTT__URL": "mqtts://broker.example:8883", "BAYGATE__MQTT__INFLIGHT": "20"}
    cfg = parse_config(example(), environ=env)
    assert cfg.mqtt.url == "mqtts://broker.example:8883"
    assert cfg.mqtt.inflight == 20


def test_a_bad_environment_override_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(example(), environ={"BAYGATE__API__PORT": "ninety"})
    assert info.value.path == "api.port"
    assert str(info.value).startswith("BAYGATE__API__PORT (api.port): ")


def test_secrets_resolve_from_files_and_env_and_never_print(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pw").write_text("hunter2\n")
    data = example()
    data["mqtt"]["password"] = f"file:{tmp_path / 'pw'}"  # type: ignore[index]
    cfg = parse_config(data, environ={})
    assert isinstance(cfg.mqtt.password, Secret)
    assert cfg.mqtt.password.reveal() == "hunter2"
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("config %s %r", cfg, cfg.mqtt)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in cfg.model_dump_json()


def test_relative_secret_files_come_from_the_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mqtt-password").write_text("s3cret")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert Secret("file:mqtt-password").reveal() == "s3cret"


def test_a_missing_secret_is_a_config_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        Secret("env:NOPE_NOT_SET").reveal()


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent\nshop_id=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("keepalive_s = 30", "keepalive_s = 'x'"), "mqtt.keepalive_s"),
        (("inflight = 100", "inflite = 100"), "mqtt.inflite"),
    ],
)
def test_cli_exits_2_naming_the_key_without_traceback(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(EXAMPLE.read_text().replace(*edit))
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(cfg), "doctor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def _run_cli(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("edit", "env", "secret"),
    [
        # a password that is not a string (a TOML number): refused, never echoed
        (("[mqtt]", "[mqtt]\npassword = 918273645"), {}, "918273645"),
        (("[mqtt]", "[mqtt]\nkey_file = [\"s3cr3t-key\"]"), {}, "s3cr3t-key"),
        # credentials inside a URL the config refuses: shown redacted
        (("", ""), {"BAYGATE__MQTT__URL": "mqtt://bay:hunter2secret@broker/x"}, "hunter2secret"),
    ],
)
def test_config_errors_never_print_a_secret(
    tmp_path: Path, edit: tuple[str, str], env: dict[str, str], secret: str
) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(EXAMPLE.read_text().replace(*edit, 1) if edit[0] else EXAMPLE.read_text())
    proc = _run_cli(cfg, env, "doctor")
    assert proc.returncode == 2, proc.stderr
    assert "mqtt." in proc.stderr and "Traceback" not in proc.stderr
    assert secret not in proc.stderr + proc.stdout


def test_a_numeric_password_from_the_environment_is_taken_verbatim() -> None:
    """`BAYGATE__MQTT__PASSWORD=007` is the password 007: env values are parsed as TOML
    scalars, which would make it the number 7 (and a pydantic error echoing it)."""
    data = {"agent": {"shop_id": "s", "agent_id": "a"}}
    cfg = parse_config(data, {"BAYGATE__MQTT__PASSWORD": "0071234"})
    assert cfg.mqtt.password is not None and cfg.mqtt.password.reveal() == "0071234"
