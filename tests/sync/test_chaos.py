"""Chaos: everything that can go wrong at once, in a seeded random order, and at the
end every committed seq is at the backend exactly once.

The parts are real processes: the agent side (`tests.support.sync_agent`: outbox,
link, a producer logging each committed seq) with its state dir on a 16 MiB tmpfs,
a Mosquitto with `max_packet_size 65536` (every 25th group the producer commits a
100 KiB record the broker will not take), and `baygate backend` into SQLite.

Disturbances (`DISTURBANCES`, one coroutine each, picked by a seeded RNG, every one
at least twice): kill -9 of the agent, of the broker with persistence and without
(its state is lost: the agent's resend after `ack_timeout_s` repairs it), of the
backend, and the agent's filesystem filled to the last byte for a few seconds.
Hostile publishes (forged acks, poison on every subscribed topic) are meant to join
the list: add an `async def (c: Chaos) -> None` to DISTURBANCES.

Bounded: 14 rounds of ~1-3 s, then a drain; about a minute here, `timeout` 240 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.smallfs import fill, small_fs
from tests.support.sync import AGENT, make_broker, store_records

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("BAYGATE_CHAOS_SEED", "20261129"))
ROUNDS = 14


@dataclass
class Chaos:
    """The running parts; disturbances kill and restart them."""

    tmp: Path
    fs: Path
    broker: Broker
    rng: random.Random
    agent: subprocess.Popen[bytes] | None = None
    backend: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.fs / "agent"

    @property
    def logs(self) -> Path:  # committed seqs: not on the filesystem the test fills
        return self.tmp / "logs"

    @property
    def db(self) -> Path:
        return self.tmp / "backend.sqlite3"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as out:  # a file: a pipe could fill
            return subprocess.Popen(
                [sys.executable, "-m", *args], cwd=ROOT, stdout=out, stderr=out, start_new_session=True
            )

    def start_agent(self) -> None:
        self.agent = self._spawn(
            "agent", "tests.support.sync_agent", str(self.state), self.broker.url,
            "--oversize-every", "25", "--reserve-kb", "1024", "--pace-s", "0.05",
            "--log-dir", str(self.logs),
        )  # fmt: skip

    def start_backend(self) -> None:
        self.backend = self._spawn(
            "backend", "agent", "backend", "--mqtt", self.broker.url, "--db", str(self.db),
            "--client-id", "chaos-ingest", "--group", "chaos",
        )  # fmt: skip

    def alive(self) -> None:
        for name, p in (("agent", self.agent), ("backend", self.backend)):
            assert p is not None and p.poll() is None, f"{name} exited by itself: {self.tail(name)}"

    def tail(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    async def pause(self, lo: float, hi: float) -> None:
        await asyncio.sleep(self.rng.uniform(lo, hi))


def kill9(p: subprocess.Popen[bytes] | None) -> None:
    if p is not None and p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


async def kill_agent(c: Chaos) -> None:
    await asyncio.to_thread(kill9, c.agent)
    await c.pause(0.1, 1.0)
    c.start_agent()


async def _kill_broker(c: Chaos, persistence: bool) -> None:
    await asyncio.to_thread(c.broker.kill)
    c.broker.persistence = persistence
    await c.pause(0.1, 1.0)
    await asyncio.to_thread(c.broker.start)


async def kill_broker_persistent(c: Chaos) -> None:
    await _kill_broker(c, True)


async def kill_broker_volatile(c: Chaos) -> None:
    await _kill_broker(c, False)


async def kill_backend(c: Chaos) -> None:
    await asyncio.to_thread(kill9, c.backend)
    await c.pause(0.5, 2.0)  # records pile up in the outbox (and the broker's session)
    c.start_backend()


async def fill_disk(c: Chaos) -> None:
    filler = await asyncio.to_thread(fill, c.fs, 0)
    await c.pause(1.0, 3.0)
    if c.rng.random() < 0.5:  # and a restart on the full disk, half of the time
        await kill_agent(c)
        await c.pause(0.5, 1.5)
    await asyncio.to_thread(filler.unlink)


Disturbance = Callable[[Chaos], Awaitable[None]]
DISTURBANCES: dict[str, Disturbance] = {
    "kill -9 agent": kill_agent,
    "kill -9 broker (persistent)": kill_broker_persistent,
    "kill -9 broker (no persistence)": kill_broker_volatile,
    "kill -9 backend": kill_backend,
    "disk full": fill_disk,
}


def outbox_last_seq(state: Path) -> tuple[str, int]:
    con = sqlite3.connect(state / "outbox.sqlite3")
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        (top,) = con.execute("SELECT MAX(seq) FROM rows").fetchone()
        return str(meta["epoch"]), max(int(meta["next_seq"]) - 1, int(top or 0))
    finally:
        con.close()


def seqs_of(path: Path) -> set[int]:
    return {int(x) for x in path.read_text().split()} if path.exists() else set()


def backend_has_everything(c: Chaos) -> bool:
    if not c.db.exists():
        return False
    want = seqs_of(c.logs / "committed.log") | seqs_of(c.logs / "oversize.log")
    have = {s for a, _e, s, _k, _p in store_records(c.db) if a == AGENT}
    return want <= have


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.anyio
async def test_chaos_every_committed_seq_reaches_the_backend_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    broker = make_broker(tmp_path / "m", extra="max_packet_size 65536")
    broker.start()
    with small_fs(tmp_path / "fs", 16) as fs:
        c = Chaos(tmp_path, fs, broker, rng)
        try:
            c.start_backend()
            c.start_agent()
            await asyncio.sleep(2)
            plan = [name for name in DISTURBANCES for _ in range(2)]
            plan += [rng.choice(list(DISTURBANCES)) for _ in range(ROUNDS - len(plan))]
            rng.shuffle(plan)
            for name in plan:
                c.log.append(name)
                await DISTURBANCES[name](c)
                c.alive()
                await c.pause(0.5, 2.0)
            (c.logs / "stop").touch()  # the producer stops; the link drains
            for _ in range(600):
                c.alive()
                if backend_has_everything(c):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the backend never caught up after {c.log}\n{c.tail('agent')}")
        finally:
            await asyncio.to_thread(kill9, c.agent)
            await asyncio.to_thread(kill9, c.backend)
            broker.stop()
        epoch, last = outbox_last_seq(c.state)
        committed = seqs_of(c.logs / "committed.log")
        oversize = seqs_of(c.logs / "oversize.log")
    rows = [(s, k, p) for a, e, s, k, p in store_records(c.db) if a == AGENT and e == epoch]
    seqs = [s for s, _k, _p in rows]
    assert len(seqs) == len(set(seqs))  # the store's key, checked anyway
    missing = set(range(1, last + 1)) - set(seqs)
    assert not missing, f"{len(missing)} of {last} seqs never reached the backend: {sorted(missing)[:20]}"
    by_seq = {s: p for s, _k, p in rows}
    for s in committed:  # every record a caller was told is taken: present, intact
        payload = by_seq[s]
        assert payload is not None and json.loads(payload)["id"].endswith(f":{epoch}:{s}")
    for s in oversize:  # taken out of the flow, declared as a gap
        assert by_seq[s] is None
    assert len(committed) > 300 and oversize, (len(committed), oversize, c.log)
