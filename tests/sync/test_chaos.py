"""Chaos: everything that can go wrong at once, in a seeded random order, and at the
end every committed seq is at the backend exactly once.

The parts are real processes: the agent side (`tests.support.sync_agent`: outbox,
link, a producer logging each committed seq) with its state dir on a 16 MiB tmpfs,
a Mosquitto with `max_packet_size 65536` (every 25th group the producer commits a
100 KiB record the broker will not take), and `baygate backend` into SQLite.

Disturbances (`DISTURBANCES`, one coroutine each, picked by a seeded RNG, every one
at least twice): kill -9 of the agent, of the broker with persistence and without
(its state is lost: the agent's resend after `ack_timeout_s` repairs it), of the
backend, the agent's filesystem filled to the last byte for a few seconds, and hostile
publishes from a client that has no key (this broker has no ACLs, so the MACs alone
must hold): a retained forged ack for everything committed, poison on the ack and
command topics, forged records and tombstones with the agent's next seqs, a status
with an absurd session, replay floods. Add an `async def (c: Chaos) -> None` to
DISTURBANCES for more.

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

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.auth import encode_key, new_key
from tests.support.broker import Broker
from tests.support.smallfs import fill, small_fs
from tests.support.sync import AGENT, BASE, SHOP, make_broker, render, store_records

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

    @property
    def keys(self) -> Path:  # the backend's key directory; the agent's key file is in it
        return self.tmp / "keys"

    def start_agent(self) -> None:
        self.agent = self._spawn(
            "agent", "tests.support.sync_agent", str(self.state), self.broker.url,
            "--oversize-every", "25", "--reserve-kb", "1024", "--pace-s", "0.05",
            "--log-dir", str(self.logs), "--auth-key-file", str(self.keys / SHOP / f"{AGENT}.key"),
        )  # fmt: skip

    def start_backend(self) -> None:
        self.backend = self._spawn(
            "backend", "agent", "backend", "--mqtt", self.broker.url, "--db", str(self.db),
            "--client-id", "chaos-ingest", "--group", "chaos", "--keys-dir", str(self.keys),
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


def _publish_all(url: str, messages: list[tuple[str, bytes, bool, list[tuple[str, str]]]]) -> None:
    port = int(url.rsplit(":", 1)[1])
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="chaos-rogue", protocol=paho.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for topic, payload, retain, user in messages:
            props = Properties(PacketTypes.PUBLISH)
            if user:
                props.UserProperty = user
            c.publish(topic, payload, qos=1, retain=retain, properties=props).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


async def hostile_publishes(c: Chaos) -> None:
    """Everything a client on the shop network without the agent's key can send."""
    epoch, last = await asyncio.to_thread(outbox_last_seq, c.state)
    committed = seqs_of(c.logs / "committed.log")
    top = max(committed, default=last)
    poison = b"[" * 1000 + b"]" * 1000
    forged = render("scan", {"forged": True})
    absurd_status = json.dumps({
        "epoch": epoch, "seq": 1, "kind": "status", "state": "online", "session": 2**63 + 5,
        "shop": SHOP, "agent": AGENT,
    }).encode()  # fmt: skip
    msgs: list[tuple[str, bytes, bool, list[tuple[str, str]]]] = [
        (f"{BASE}/ack", json.dumps({"epoch": epoch, "seq": top}).encode(), True, []),  # delete it all
        (f"{BASE}/ack", json.dumps({"epoch": epoch, "seq": top}).encode(), False, [("mac", "0" * 64)]),
        (f"{BASE}/ack", poison, False, []),
        (f"{BASE}/cmd/replay", poison, False, []),
        *[(f"{BASE}/cmd/replay", json.dumps({"epoch": epoch, "from_seq": 1}).encode(), False, [])] * 20,
        *[(f"{BASE}/scan", forged(s, epoch), False, []) for s in range(last + 1, last + 31)],
        *[(f"{BASE}/telemetry", b"", False, [("dropped", "1"), ("epoch", epoch), ("seq", str(s))])
          for s in range(last + 31, last + 51)],
        (f"{BASE}/status", absurd_status, False, []),
        (f"{BASE}/scan", poison, False, []),
    ]  # fmt: skip
    await asyncio.to_thread(_publish_all, c.broker.url, msgs)
    await c.pause(0.5, 1.5)


Disturbance = Callable[[Chaos], Awaitable[None]]
DISTURBANCES: dict[str, Disturbance] = {
    "kill -9 agent": kill_agent,
    "kill -9 broker (persistent)": kill_broker_persistent,
    "kill -9 broker (no persistence)": kill_broker_volatile,
    "kill -9 backend": kill_backend,
    "disk full": fill_disk,
    "hostile publishes": hostile_publishes,
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
    key_file = tmp_path / "keys" / SHOP / f"{AGENT}.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(encode_key(new_key()))
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
    for s in committed:  # every record a caller was told is taken: present, intact, ours
        payload = by_seq[s]
        assert payload is not None and json.loads(payload)["id"].endswith(f":{epoch}:{s}")
        assert "forged" not in json.loads(payload)
    for s in oversize:  # taken out of the flow, declared as a gap
        assert by_seq[s] is None
    assert len(committed) > 300 and oversize, (len(committed), oversize, c.log)
