"""A full disk, end to end: `baygate run` as a process on the simulators, its state
dir on a real 24 MiB tmpfs that the test fills.

The agent must degrade, never exit: shed telemetry when space is low, refuse new
scans at critical with a `disk_full` alert committed and /health failing with the
reason, keep its link up, survive a kill -9 and restart on a disk filled to the last
byte, deliver and get acked what it holds once the backend comes, and recover by
itself when space comes back. At the end the backend holds every seq the agent
committed, exactly once, without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import SHIPPED_MANUFACTURERS
from simulators.elm327.tcp import serve_tcp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from sync.store import open_store
from tests.support.broker import Broker, free_port
from tests.support.smallfs import fill, small_fs
from tests.support.sync import ingest

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20
AGENT = "bay-9"


def write_config(tmp: Path, state: Path, broker: Broker, *, elm_port: int, nhtsa_url: str, api: int) -> Path:
    lines = [
        "[agent]",
        'shop_id = "shop-disk"',
        f'agent_id = "{AGENT}"',
        f'state_dir = "{state}"',
        "disk_low_mb = 8.0",
        "disk_critical_mb = 4.0",
        "disk_reserve_mb = 1.5",
        "[obd]",
        "telemetry_hz = 5.0",
        "[[obd.dongles]]",
        'name = "sim-dongle"',
        f'url = "tcp://127.0.0.1:{elm_port}"',
        "[[cameras]]",
        'name = "sim-cam"',
        'source = "sim:door_jamb,qrcode"',
        "dedupe_window_s = 1.0",
        "[enrich]",
        f'manufacturers_dir = "{SHIPPED_MANUFACTURERS}"',
        "[enrich.nhtsa]",
        f'vpic_url = "{nhtsa_url}/api/vehicles/"',
        f'recalls_url = "{nhtsa_url}/"',
        "[mqtt]",
        f'url = "{broker.url}"',
        "[api]",
        f"port = {api}",
    ]
    path = tmp / "agent.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class AgentProc:
    """`baygate run` as a subprocess, its log in a file (never a pipe that can fill)."""

    def __init__(self, cfg: Path, log: Path, api: int) -> None:
        self.cfg, self.log, self.api = cfg, log, api
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "--config", str(self.cfg), "--log-json", "run",
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=fd,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            )  # fmt: skip
        finally:
            os.close(fd)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def health(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as c:
                r = await c.get(f"http://127.0.0.1:{self.api}/health")
            doc: dict[str, Any] = r.json()
            return doc
        except (httpx.HTTPError, ValueError):
            return None

    async def metrics(self) -> dict[str, float]:
        """Prometheus text as {series: value} (labels included in the key)."""
        async with httpx.AsyncClient(timeout=2.0) as c:
            text = (await c.get(f"http://127.0.0.1:{self.api}/metrics")).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def check(doc: dict[str, Any] | None, name: str) -> tuple[str, str]:
    if doc is None or name not in doc["checks"]:
        return "", ""
    c = doc["checks"][name][0]
    return str(c["status"]), str(c["output"])


async def wait_for(agent: AgentProc, what: str, limit_s: float, pred: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert agent.alive(), f"agent exited while waiting for {what}:\n{agent.tail()}"
        got = pred()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}:\n{agent.tail()}")


def backend(db: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    store = open_store(str(db))
    try:
        recs = [json.loads(p) for (_a, _e, _s, _k, p) in store.records(AGENT) if p is not None]
        return recs, [s for s in store.stats() if s.agent == AGENT]
    finally:
        store.close()


@contextlib.asynccontextmanager
async def simulators() -> AsyncIterator[tuple[int, str]]:
    with ServiceServer(NhtsaApp()) as nhtsa:
        async with serve_tcp(profile="petrol-can") as elm:
            yield elm.port, nhtsa.url


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.anyio
async def test_a_full_disk_degrades_the_agent_which_keeps_acking_and_recovers(
    own_broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "backend.sqlite3"
    api = free_port()
    with small_fs(tmp_path / "fs", 24) as fs:
        state = fs / "state"
        async with simulators() as (elm_port, nhtsa_url):
            cfg = write_config(tmp_path, state, own_broker, elm_port=elm_port, nhtsa_url=nhtsa_url, api=api)
            agent = AgentProc(cfg, tmp_path / "agent.log", api)
            await agent.start()
            try:
                filler = await degrade(agent, fs, state)
                async with ingest(own_broker.url, db):
                    recs, stats = await deliver_and_recover(agent, db, filler, state)
            finally:
                if agent.alive():
                    await agent.kill9()
    # Every seq the agent committed is at the backend exactly once, no gap.
    (st,) = [s for s in stats if s.epoch == recs[0]["epoch"]]
    seqs = sorted(int(r["seq"]) for r in recs)
    assert st.missing == 0 and st.hw == st.max_seq, st
    assert len(seqs) == len(set(seqs))
    assert st.count + st.dropped == st.max_seq  # dropped: only births of killed sessions
    alerts = [r["code"] for r in recs if r["kind"] == "alert"]
    assert alerts.index("disk_low") < alerts.index("disk_full") < alerts.index("disk_ok"), alerts
    kinds = {r["kind"] for r in recs}
    assert {"scan", "telemetry", "vehicle_report", "enrichment", "alert", "status"} <= kinds


async def _status_is(agent: AgentProc, name: str, want: str) -> str | None:
    status, output = check(await agent.health(), name)
    return output if status == want else None


def _alert(db: Path, code: str) -> bool:
    if not db.exists():
        return False
    return any(r["kind"] == "alert" and r["code"] == code for r in backend(db)[0])


def _caught_up(db: Path) -> bool:
    if not db.exists():
        return False
    _recs, stats = backend(db)
    return bool(stats) and all(s.missing == 0 and s.hw == s.max_seq and s.hw > 0 for s in stats)


async def degrade(agent: AgentProc, fs: Path, state: Path) -> Path:
    # 1. Backend down: records wait in the outbox.
    await wait_for(agent, "link up", 60, lambda: _status_is(agent, "link", "pass"))
    await wait_for(agent, "disk ok", 10, lambda: _status_is(agent, "disk", "pass"))
    assert (state / "outbox.reserve").stat().st_size == int(1.5 * MB)
    await asyncio.sleep(3)
    # 2. Low: telemetry shed, scans still taken.
    filler = fill(fs, leave_bytes=6 * MB)
    low = await wait_for(agent, "disk low", 20, lambda: _status_is(agent, "disk", "warn"))
    assert "telemetry shed" in low
    # 3. Critical: scans refused, /health fails with the reason, the link stays up.
    fill(fs, leave_bytes=2 * MB)
    crit = await wait_for(agent, "disk critical", 20, lambda: _status_is(agent, "disk", "fail"))
    assert "new scans refused" in crit
    doc = await agent.health()
    assert doc is not None and doc["status"] == "fail"
    assert check(doc, "link")[0] == "pass"
    m = await agent.metrics()
    assert m["baygate_disk_level"] == 2
    assert m['baygate_records_shed_total{kind="telemetry"}'] >= 1
    # 4. Filled to the last byte, then kill -9 and a restart on the full disk.
    fill(fs, leave_bytes=0)
    await asyncio.sleep(3)
    assert agent.alive(), agent.tail()
    await agent.kill9()
    await agent.start()
    await wait_for(agent, "link up after restart", 60, lambda: _status_is(agent, "link", "pass"))
    assert await _status_is(agent, "disk", "fail")
    return filler


async def deliver_and_recover(
    agent: AgentProc, db: Path, filler: Path, state: Path
) -> tuple[list[dict[str, Any]], list[Any]]:
    # 5. The backend comes: everything held is delivered and acked on a full disk.
    await wait_for(agent, "a disk_full alert at the backend", 60, lambda: _alert(db, "disk_full"))
    await wait_for(agent, "the backend to hold a gap-free prefix", 60, lambda: _caught_up(db))
    # 6. Space comes back: the agent recovers by itself.
    await asyncio.to_thread(filler.unlink)
    await wait_for(agent, "disk ok again", 30, lambda: _status_is(agent, "disk", "pass"))
    await wait_for(agent, "reserve again", 10, (state / "outbox.reserve").exists)
    await wait_for(agent, "a disk_ok alert", 30, lambda: _alert(db, "disk_ok"))
    recovered_at = max(int(r["seq"]) for r in backend(db)[0])

    def telemetry_after() -> bool:
        return any(r["kind"] == "telemetry" and int(r["seq"]) > recovered_at for r in backend(db)[0])

    await wait_for(agent, "telemetry after recovery", 60, telemetry_after)
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(45):  # beyond the 30 s shutdown bound: its exit 1 shows
        rc = await agent.proc.wait()
    assert rc == 0, agent.tail()
    await asyncio.sleep(2)  # the last acks and the Last Will
    return backend(db)
