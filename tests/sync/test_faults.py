"""Crash cycles against a real Mosquitto: kill -9 the broker (with and without
persistence), the agent, or both, many times; the backend must end with every
committed record exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.sync import BASE, agent_side, ingest, make_broker, render, store_records, until

ROOT = Path(__file__).resolve().parents[2]


def check_exactly_once(db: Path, epoch: str, last_seq: int, committed: set[int]) -> None:
    rows = [r for r in store_records(db) if r[1] == epoch]
    seqs = [s for _a, _e, s, _k, _p in rows]
    assert len(seqs) == len(set(seqs))  # the store's key, checked anyway
    missing = set(range(1, last_seq + 1)) - set(seqs)
    assert not missing, f"{len(missing)} seqs never reached the backend: {sorted(missing)[:20]}"
    by_seq = {s: (k, p) for _a, _e, s, k, p in rows}
    for s in committed:  # every record a caller was told is taken: present, intact
        kind, payload = by_seq[s]
        assert kind == "scan" and payload is not None
        assert json.loads(payload)["id"].endswith(f":{epoch}:{s}")


async def produce(ob: object, stop: asyncio.Event, committed: set[int]) -> None:
    from sync.outbox import Outbox

    assert isinstance(ob, Outbox)
    while not stop.is_set():
        seqs = await asyncio.gather(*(ob.put("scan", BASE + "/scan", render("scan")) for _ in range(10)))
        committed.update(seqs)
        await asyncio.sleep(0.01)


async def broker_cycles(tmp_path: Path, persistence: bool, cycles: int) -> None:
    b = make_broker(tmp_path / "m", persistence=persistence)
    b.start()
    db = tmp_path / "backend.sqlite3"
    committed: set[int] = set()
    rng = random.Random(7)
    try:
        async with ingest(b.url, db), agent_side(tmp_path, b.url) as (ob, link):
            stop = asyncio.Event()
            prod = asyncio.create_task(produce(ob, stop, committed))
            for _ in range(cycles):
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                await asyncio.to_thread(b.kill)  # mid-stream, no goodbye
                await asyncio.sleep(rng.uniform(0.0, 0.2))
                await asyncio.to_thread(b.start)
            stop.set()
            await prod
            await until(lambda: link.backend_hw >= ob.last_seq, timeout=90, what="backend catches up")
            epoch, last = ob.epoch, ob.last_seq
    finally:
        b.stop()
    assert len(committed) > 100
    check_exactly_once(db, epoch, last, committed)


@pytest.mark.anyio
@pytest.mark.parametrize("persistence", [True, False], ids=["persistent", "no-persistence"])
async def test_broker_kill9_mid_stream_loses_nothing(tmp_path: Path, persistence: bool) -> None:
    await broker_cycles(tmp_path, persistence, cycles=3)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("persistence", [True, False], ids=["persistent", "no-persistence"])
async def test_twenty_broker_kill9_cycles_lose_nothing(tmp_path: Path, persistence: bool) -> None:
    await broker_cycles(tmp_path, persistence, cycles=20)


def start_agent(state: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.sync_agent", str(state), url],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def agent_cycles(tmp_path: Path, b: Broker, cycles: int, with_broker: bool) -> None:
    state = tmp_path / "agent"
    state.mkdir()
    db = tmp_path / "backend.sqlite3"
    rng = random.Random(11)
    async with ingest(b.url, db):
        for _ in range(cycles):
            proc = start_agent(state, b.url)
            try:
                await asyncio.sleep(rng.uniform(0.6, 1.2))  # ~0.4 s of it is interpreter start
            finally:
                if with_broker:  # both at once: a power cut of the whole bay
                    await asyncio.gather(asyncio.to_thread(kill9, proc), asyncio.to_thread(b.kill))
                    await asyncio.to_thread(b.start)
                else:
                    await asyncio.to_thread(kill9, proc)
        async with agent_side(state, b.url) as (ob, link):  # the last restart drains
            await until(lambda: link.backend_hw >= ob.last_seq, timeout=90, what="backend catches up")
            epoch, last = ob.epoch, ob.last_seq
    committed = {int(x) for x in (state / "committed.log").read_text().split()}
    assert len(committed) > 50
    check_exactly_once(db, epoch, last, committed)


@pytest.mark.anyio
async def test_agent_kill9_mid_stream_loses_nothing(tmp_path: Path, sync_broker: Broker) -> None:
    await agent_cycles(tmp_path, sync_broker, cycles=3, with_broker=False)


@pytest.mark.slow
@pytest.mark.anyio
async def test_twenty_agent_kill9_cycles_lose_nothing(tmp_path: Path, sync_broker: Broker) -> None:
    await agent_cycles(tmp_path, sync_broker, cycles=20, with_broker=False)


@pytest.mark.slow
@pytest.mark.anyio
async def test_twenty_cycles_of_agent_and_broker_killed_together_lose_nothing(tmp_path: Path) -> None:
    b = make_broker(tmp_path / "m", persistence=False)
    b.start()
    try:
        await agent_cycles(tmp_path, b, cycles=20, with_broker=True)
    finally:
        b.stop()
