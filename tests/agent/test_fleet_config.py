"""Remote configuration through the production broker setup: the backend identity
pushes a signed `config` command with `sync.requester`, the agent answers; an unsigned
push (any other client) is not obeyed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import Config, parse_config
from agent.pipelines.sink import Pipeline, RecordSink
from agent.service.runtime import Runtime
from sync.keyring import KeyRing
from sync.provision import BACKEND_USER
from sync.requester import Target, request_all
from tests.conftest import SecureBroker
from tests.support.sync import running, until

ROOT = Path(__file__).resolve().parents[2]


def agent_config(state: Path, sb: SecureBroker, username: str, password: str, key_file: Path) -> Config:
    return parse_config(
        {
            "agent": {"shop_id": "shop-fc", "agent_id": "bay-fc", "state_dir": str(state)},
            "mqtt": {
                "url": sb.url,
                "username": username,
                "password": password,
                "auth_key": f"file:{key_file}",
            },
        },
        environ={},
    )


def idle(_: Config) -> list[Pipeline]:
    async def wait(_sink: RecordSink) -> None:
        await asyncio.Event().wait()

    return [wait]


@pytest.mark.anyio
async def test_a_signed_push_is_answered_and_an_unsigned_one_is_not_obeyed(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    ident = secure_broker.add_agent("shop-fc", "bay-fc")
    cfg = agent_config(tmp_path / "state", secure_broker, ident.username, ident.password, ident.key_file)
    rt = Runtime(cfg, pipelines_for=idle, backoff_min_s=0.05, backoff_max_s=0.5)
    assert rt.reconfigurer is not None
    rt.reconfigurer.settle_s, rt.reconfigurer.poll_s = 0.2, 0.05
    target = Target("shop-fc", "bay-fc")

    def push(version: str, toml: str, keys: KeyRing | None, timeout_s: float = 10.0) -> object:
        return asyncio.to_thread(
            request_all, secure_broker.url, [target], "config", {"version": version, "toml": toml},
            keys=keys, client_id="fleet-test", username=BACKEND_USER,
            password=secure_broker.backend_password, timeout_s=timeout_s,
        )  # fmt: skip

    async with running(rt.run):
        await until(lambda: rt.link is not None and rt.link.connected, what="agent up")
        answers = await push("v1", "[obd]\ntelemetry_hz = 2.0\n", KeyRing(secure_broker.keys_dir))
        reply = answers[target]  # type: ignore[index]
        assert reply is not None and reply.ok and reply.result["status"] == "applied", reply
        assert rt.reconfigurer.config.obd.telemetry_hz == 2.0

        # Signed with nothing (or by anyone without the agent's key): not obeyed.
        answers = await push("v2", "[obd]\ntelemetry_hz = 5.0\n", None, timeout_s=2.0)
        assert answers[target] is None  # type: ignore[index]
        assert rt.reconfigurer.version == "v1" and rt.reconfigurer.config.obd.telemetry_hz == 2.0


@pytest.mark.anyio
async def test_the_fleet_cli_pushes_and_reports_each_answer(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    ident = secure_broker.add_agent("shop-fc", "bay-fc")
    cfg = agent_config(tmp_path / "state", secure_broker, ident.username, ident.password, ident.key_file)
    rt = Runtime(cfg, pipelines_for=idle, backoff_min_s=0.05, backoff_max_s=0.5)
    assert rt.reconfigurer is not None
    rt.reconfigurer.settle_s, rt.reconfigurer.poll_s = 0.2, 0.05
    pw = tmp_path / "backend.pw"
    pw.write_text(secure_broker.backend_password)
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("[obd]\ntelemetry_hz = 2.0\n")
    bad.write_text("[obd]\ntelemetry_hz = 500\n")

    def push(version: str, file: Path, *agents: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "agent", "fleet", "config", "push", str(file), "--version", version,
                "--mqtt", secure_broker.url, "--keys-dir", str(secure_broker.keys_dir),
                "--username", BACKEND_USER, "--password-file", str(pw), "--timeout", "5"]  # fmt: skip
        for a in agents:
            argv += ["--agent", a]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)

    async with running(rt.run):
        await until(lambda: rt.link is not None and rt.link.connected, what="agent up")
        ok = await asyncio.to_thread(push, "v1", good, "shop-fc/bay-fc")
        assert ok.returncode == 0 and ok.stdout.strip() == "shop-fc/bay-fc: applied", ok
        refused = await asyncio.to_thread(push, "v2", bad, "shop-fc/bay-fc", "shop-fc/bay-gone")
        assert refused.returncode == 1, refused
        lines = dict(ln.split(": ", 1) for ln in refused.stdout.strip().splitlines())
        assert lines["shop-fc/bay-fc"].startswith("rejected: obd.telemetry_hz")
        assert lines["shop-fc/bay-gone"] == "no answer"
    assert rt.reconfigurer.version == "v1"
    usage = await asyncio.to_thread(push, "v3", good, "not-an-agent")
    assert usage.returncode == 2 and "SHOP/AGENT" in usage.stderr and "Traceback" not in usage.stderr
