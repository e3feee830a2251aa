"""Upgrade orders through the production broker setup: a signed `upgrade` command is
staged, an unsigned or forged one is not obeyed, an agent without a key refuses; and
`baygate fleet upgrade` (a real process) stops the rollout at the first failure, never
touching the agents after it. The privileged half (the path unit running the release
script) is tests/systemd/test_upgrade_e2e.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.cli.fleet_upgrade import Outcome, plan_waves, roll_out
from agent.config import Config, parse_config
from agent.pipelines.sink import Pipeline, RecordSink
from agent.service.runtime import Runtime
from sync.commands import Reply
from sync.keyring import KeyRing
from sync.provision import BACKEND_USER
from sync.requester import Target, request_all
from tests.conftest import SecureBroker
from tests.support.sync import running, until
from tests.support.upgrade import Served, serve, sha256_of, tar_wheelhouse, tiny_stage

ROOT = Path(__file__).resolve().parents[2]


def agent_config(state: Path, sb: SecureBroker, shop: str, agent: str, *, signed: bool = True) -> Config:
    ident = sb.add_agent(shop, agent)
    mqtt: dict[str, Any] = {"url": sb.url, "username": ident.username, "password": ident.password}
    if signed:
        mqtt["auth_key"] = f"file:{ident.key_file}"
    return parse_config(
        {"agent": {"shop_id": shop, "agent_id": agent, "state_dir": str(state)}, "mqtt": mqtt}, environ={}
    )


def alert_codes(state: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(state / "outbox.sqlite3")) as con:
        rows = con.execute("SELECT payload FROM rows WHERE topic LIKE '%/alert'").fetchall()
    return [json.loads(r[0])["code"] for r in rows]


def idle(_: Config) -> list[Pipeline]:
    async def wait(_sink: RecordSink) -> None:
        await asyncio.Event().wait()

    return [wait]


def agent(cfg: Config) -> Runtime:
    return Runtime(cfg, pipelines_for=idle, backoff_min_s=0.05, backoff_max_s=0.5)


async def send(
    sb: SecureBroker,
    target: Target,
    name: str,
    args: Mapping[str, Any],
    keys: KeyRing | None,
    *,
    timeout_s: float = 10,
) -> Reply | None:
    answers = await asyncio.to_thread(
        request_all, sb.url, [target], name, args, keys=keys, client_id="fleet-test",
        username=BACKEND_USER, password=sb.backend_password, timeout_s=timeout_s,
    )  # fmt: skip
    return answers[target]


@pytest.mark.anyio
async def test_a_signed_order_is_staged_and_an_unsigned_or_forged_one_is_not_obeyed(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    rt = agent(agent_config(state, secure_broker, "shop-up", "bay-1"))
    target = Target("shop-up", "bay-1")
    data = tar_wheelhouse(tiny_stage(tmp_path, "9.0.0"), tmp_path / "wh.tar")
    forged_keys = tmp_path / "forged"
    (forged_keys / "shop-up").mkdir(parents=True)
    (forged_keys / "shop-up" / "bay-1.key").write_text("f" * 64 + "\n")

    with serve(Served({"/wh.tar": data})) as s:
        order = {"version": "9.0.0", "url": f"{s.base}/wh.tar", "sha256": sha256_of(data)}
        async with running(rt.run):
            await until(lambda: rt.link is not None and rt.link.connected, what="agent up")
            # Unsigned, and signed with a key that is not the agent's: dropped unanswered.
            assert await send(secure_broker, target, "upgrade", order, None, timeout_s=2) is None
            assert (
                await send(secure_broker, target, "upgrade", order, KeyRing(forged_keys), timeout_s=2) is None
            )
            assert s.hits == [] and not (state / "upgrades").exists()

            keys = KeyRing(secure_broker.keys_dir)
            reply = await send(secure_broker, target, "upgrade", order, keys)
            assert reply is not None and reply.ok and reply.result["status"] == "accepted", reply
            order_id = reply.result["id"]
            await until((state / "upgrades" / "request").exists, what="request written")
            assert json.loads((state / "upgrades" / "request").read_text()) == {
                "id": order_id,
                "version": "9.0.0",
            }
            status = await send(secure_broker, target, "upgrade-status", {}, keys)
            assert status is not None and status.ok and status.result["pending"] == "9.0.0", status
            # Arguments are validated before anything runs.
            bad = await send(secure_broker, target, "upgrade", {**order, "sha256": "nope"}, keys)
            assert bad is not None and not bad.ok and "sha256" in str(bad.error)
    assert s.hits == ["/wh.tar"]  # fetched once, by the signed order only


@pytest.mark.anyio
async def test_an_agent_that_cannot_authenticate_commands_refuses_upgrades(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    rt = agent(agent_config(state, secure_broker, "shop-up", "bay-nokey", signed=False))
    order = {"version": "9.0.0", "url": "http://127.0.0.1:9/wh.tar", "sha256": "0" * 64}
    async with running(rt.run):
        await until(lambda: rt.link is not None and rt.link.connected, what="agent up")
        reply = await send(secure_broker, Target("shop-up", "bay-nokey"), "upgrade", order, None)
    assert reply is not None and reply.ok and reply.result["status"] == "rejected"
    assert "mqtt.auth_key" in reply.result["error"]
    assert not (state / "upgrades").exists()


def test_waves_put_the_canaries_first_then_the_rest_in_order() -> None:
    t = [Target("s", f"a{i}") for i in range(5)]
    assert plan_waves(t, [t[3]], 2) == [[t[3]], [t[0], t[1]], [t[2], t[4]]]
    assert plan_waves(t[:2], [], 10) == [[t[0], t[1]]]


def test_a_rollout_stops_at_the_first_failure_and_sends_nothing_after_it() -> None:
    """roll_out over scripted agents (the real broker path is the CLI test below)."""
    t = [Target("s", f"a{i}") for i in range(4)]
    sent: list[tuple[str, tuple[Target, ...]]] = []
    version = {x: "1.0.0" for x in t}

    def fake_send(
        targets: Sequence[Target], name: str, args: Mapping[str, Any], timeout_s: float
    ) -> Mapping[Target, Reply | None]:
        sent.append((name, tuple(targets)))
        out: dict[Target, Reply | None] = {}
        for x in targets:
            if name == "upgrade":
                out[x] = Reply(True, {"status": "accepted", "id": f"id-{x.agent}"})
            elif x.agent == "a2":  # a2's release fails its health gate
                res = {
                    "id": "id-a2",
                    "status": "rolled_back",
                    "running": "1.0.0",
                    "detail": "x\nrunning 1.0.0 again",
                }
                out[x] = Reply(True, {"version": "1.0.0", "result": res})
            else:
                version[x] = "2.0.0"
                res = {"id": f"id-{x.agent}", "status": "ok", "from": "1.0.0"}
                out[x] = Reply(True, {"version": version[x], "result": res})
        return out

    seen: list[Outcome] = []
    failure = roll_out(
        fake_send, plan_waves(t, [t[0]], 2), {"version": "2.0.0"}, timeout_s=60, poll_s=1,
        report=seen.append, clock=lambda: 0.0, sleep=lambda s: None,
    )  # fmt: skip
    assert failure is not None and failure.target == t[2] and "rolled back to 1.0.0" in failure.text
    assert [o.text for o in seen] == [
        "upgraded 1.0.0 -> 2.0.0", "upgraded 1.0.0 -> 2.0.0", "rolled back to 1.0.0: running 1.0.0 again"
    ]  # fmt: skip
    assert all(t[3] not in targets for _, targets in sent)  # the wave after a2's never started


@pytest.mark.anyio
async def test_the_fleet_cli_stops_the_rollout_when_the_canary_refuses(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    canary = agent(agent_config(tmp_path / "canary", secure_broker, "shop-up", "canary"))
    other = agent(agent_config(tmp_path / "other", secure_broker, "shop-up", "other"))
    pw = tmp_path / "backend.pw"
    pw.write_text(secure_broker.backend_password)
    data = tar_wheelhouse(tiny_stage(tmp_path, "9.0.0"), tmp_path / "wh.tar")

    def fleet_upgrade(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "agent", "fleet", "upgrade", "--version", "9.0.0",
                "--mqtt", secure_broker.url, "--keys-dir", str(secure_broker.keys_dir),
                "--username", BACKEND_USER, "--password-file", str(pw), "--timeout", "30", "--poll", "0.2",
                *extra]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=ROOT, check=False)

    with serve(Served({"/wh.tar": data})) as s:
        async with running(canary.run), running(other.run):
            await until(
                lambda: all(a.link is not None and a.link.connected for a in (canary, other)), what="up"
            )
            # The tarball's sha256 is not the one ordered: the canary refuses, the rest is left alone.
            r = await asyncio.to_thread(
                fleet_upgrade, "--url", f"{s.base}/wh.tar", "--sha256", "0" * 64,
                "--canary", "shop-up/canary", "--agent", "shop-up/other",
            )  # fmt: skip
            # The outcome also goes out as a durable alert record (fleet status shows it).
            await until(lambda: "upgrade_failed" in alert_codes(tmp_path / "canary"), what="alert record")
    assert r.returncode == 1, r
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("shop-up/canary: refused: sha256 of"), r.stdout
    assert lines[1] == "shop-up/other: not attempted (rollout stopped)"
    assert "stopped at shop-up/canary: refused: sha256" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "other" / "upgrades").exists()
    assert s.hits == ["/wh.tar"]
    usage = await asyncio.to_thread(fleet_upgrade, "--url", "ftp://x", "--sha256", "0" * 64, "--agent", "a/b")
    assert usage.returncode == 2 and "--url" in usage.stderr
