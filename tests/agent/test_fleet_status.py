"""`baygate fleet status` against a real Mosquitto, three real agents (Runtime: outbox,
link, status birth and Last Will) and the real ingest's store; the CLI as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import __version__
from agent.config import Config, parse_config
from agent.pipelines.sink import RecordSink
from agent.service.health import HealthRegistry
from agent.service.runtime import Runtime
from sync.fleet import active_alerts, parse_status
from tests.support.broker import Broker
from tests.support.sync import ingest, until


def config(state: Path, url: str, agent: str) -> Config:
    return parse_config(
        {"agent": {"shop_id": "shop-f", "agent_id": agent, "state_dir": str(state)}, "mqtt": {"url": url}},
        environ={},
    )


def fleet_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "fleet", "status", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def by_agent(out: str) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in out.splitlines()]
    return {r["agent"]: r for r in rows}


@contextlib.asynccontextmanager
async def agent_running(rt: Runtime) -> AsyncIterator[Runtime]:
    task = asyncio.create_task(rt.run())
    try:
        await until(lambda: rt.link is not None and rt.link.connected, what="agent up")
        yield rt
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.anyio
async def test_fleet_status_lists_every_agent_online_offline_alerts_and_devices(
    own_broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "backend.sqlite3"

    async def breaker_trips(sink: RecordSink) -> None:
        # what agent.enrich.service emits on a breaker transition
        await sink.emit("alert", {"severity": "warning", "code": "breaker_open", "message": "x is failing"})
        await sink.emit("alert", {"severity": "critical", "code": "disk_full", "message": "outbox full"})
        await sink.emit("alert", {"severity": "info", "code": "breaker_closed", "message": "x answers again"})
        await asyncio.Event().wait()

    health = HealthRegistry(version=__version__)
    health.register("dongle:bay1", lambda: ("warn", "bay1: connecting"))
    health.register("camera:door", lambda: ("pass", "door: ok"))
    url = own_broker.url
    kw: dict[str, Any] = {"backoff_min_s": 0.05, "backoff_max_s": 0.5}
    a1 = Runtime(config(tmp_path / "a1", url, "bay-1"), [breaker_trips], health=health, **kw)
    a2 = Runtime(config(tmp_path / "a2", url, "bay-2"), **kw)
    a3 = Runtime(config(tmp_path / "a3", url, "bay-3"), **kw)
    async with ingest(url, db) as ing, agent_running(a1), agent_running(a2):
        async with agent_running(a3):
            await until(lambda: ing.counters.inserted >= 6, what="statuses and alerts stored")
        # bay-3 stopped: its Last Will ("offline") is now the retained status; it carries
        # its birth's id, so the ingest counts it as a duplicate and updates the presence
        await until(lambda: ing.counters.duplicates >= 1, what="bay-3's Last Will received")
        done = await asyncio.to_thread(fleet_cli, "--mqtt", url, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    rows = by_agent(done.stdout)
    assert sorted(rows) == ["bay-1", "bay-2", "bay-3"]
    for name in ("bay-1", "bay-2"):
        r = rows[name]
        assert (r["shop"], r["online"], r["version"]) == ("shop-f", True, __version__)
        assert r["config_version"] is None  # no remote configuration yet
        assert r["reconnects"] == 0 and r["outbox_depth"] is not None and r["since"] is not None
    assert rows["bay-3"]["online"] is False and rows["bay-3"]["since"] is not None
    assert rows["bay-1"]["active_alerts"] == ["disk_full"]  # breaker_open was closed again
    assert rows["bay-1"]["dongles"] == {"bay1": "warn"} and rows["bay-1"]["cameras"] == {"door": "pass"}
    assert rows["bay-1"]["records"] >= 4 and rows["bay-1"]["last_record"] is not None
    assert rows["bay-2"]["active_alerts"] == [] and rows["bay-2"]["dongles"] == {}


@pytest.mark.anyio
async def test_the_table_and_a_reconnect_counted_from_the_session(own_broker: Broker, tmp_path: Path) -> None:
    rt = Runtime(config(tmp_path / "a", own_broker.url, "bay-9"), backoff_min_s=0.05, backoff_max_s=0.5)
    async with agent_running(rt):
        assert rt.link is not None
        link = rt.link
        own_broker.kill()
        await until(lambda: not link.connected, what="link down")
        own_broker.start()
        await until(lambda: link.connected, what="link up again")
        done = await asyncio.to_thread(fleet_cli, "--mqtt", own_broker.url, "--json")
        table = await asyncio.to_thread(fleet_cli, "--mqtt", own_broker.url)
    assert done.returncode == 0, done.stderr
    assert by_agent(done.stdout)["bay-9"]["reconnects"] == 1
    assert table.returncode == 0 and "shop-f/bay-9" in table.stdout and "online" in table.stdout


def test_no_broker_is_one_line_and_exit_1(port: int) -> None:
    done = fleet_cli("--mqtt", f"mqtt://127.0.0.1:{port}", "--wait", "1")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot reach the broker" in done.stderr


def test_bad_wait_is_usage_exit_2() -> None:
    assert fleet_cli("--wait", "0").returncode == 2


def test_a_hostile_status_is_bounded_and_named() -> None:
    from sync.errors import BadMessageError

    topic = "baygate/v1/s/a/status"
    with pytest.raises(BadMessageError):
        parse_status(topic, b"[" * 100_000)
    env = {"shop": "s", "agent": "a", "kind": "status", "epoch": "e", "seq": 1}
    with pytest.raises(BadMessageError):
        parse_status(topic, json.dumps(env).encode())  # no state, no session
    body = {**env, "state": "online", "session": 3, "version": 7, "outbox_depth": -5,
            "checks": {"dongle:x": 1, "camera:y": "pass"}}  # fmt: skip
    st = parse_status(topic, json.dumps(body).encode())
    assert (st.version, st.outbox_depth, st.checks, st.session) == (None, None, {"camera:y": "pass"}, 3)


def test_alerts_resolve_by_code() -> None:
    seq = [("breaker_open", "warning"), ("demo_start", "info"), ("disk_full", "critical"),
           ("breaker_open", "warning"), ("disk_ok", "info")]  # fmt: skip
    assert active_alerts(seq) == ["breaker_open"]
