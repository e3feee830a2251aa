"""Sync benchmark: raw paho QoS 1 vs the full durable path, and the outage matrix.

    .venv/bin/python bench/sync.py [--quick] [--n N] [--rounds R] [--cycles C]

1. Throughput, one Mosquitto (persistence on, saved once a second), N x 200-byte JSON
   records, each built when it is sent (as an agent would); R interleaved rounds of:
   - raw: plain paho, QoS 1, max_inflight 100, publish as fast as paho takes them,
     time until the last PUBACK (a light subscriber, mosquitto_sub, consumes them);
   - durable to broker: outbox (SQLite WAL, synchronous=FULL, group commit) + link
     (inflight 100), time until every row is committed and broker-acked: what
     durability costs the agent, against the same light subscriber;
   - raw to backend: raw paho consumed by the reference ingest, time until the ingest
     committed the last record;
   - durable: outbox + link + reference ingest (SQLite, insert-if-absent) + backend
     acks; time until the backend has committed and acked the last record.
   Medians over the rounds (this 2-core machine varies +-20 % from run to run), and
   the agent's CPU time per record for raw and durable.
2. Outage matrix, the durable path while records are produced: kill -9 the broker with
   persistence, without persistence, kill -9 the agent (a subprocess), and both at
   once, C cycles each. Prints records committed, lost (committed but not in the
   backend) and duplicates after dedupe (rows sharing a record id) per scenario.

The last line is one JSON object with the headline figures: `ratio` is durable over
raw to the same backend, `agent_ratio` durable-to-broker over raw (both to PUBACK),
`ratio_vs_raw_puback` end-to-end durable over raw to PUBACK.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402 - after sys.path

from sync.ingest import Ingest, IngestSettings  # noqa: E402 - after sys.path
from sync.link import Link  # noqa: E402 - after sys.path
from sync.outbox import Outbox  # noqa: E402 - after sys.path
from tests.support.broker import Broker  # noqa: E402 - after sys.path
from tests.support.sync import (  # noqa: E402 - after sys.path
    BASE,
    add_replay,
    link_settings,
    make_broker,
    status_render,
    until,
)

PAYLOAD_PAD = 200


def payload(seq: int, epoch: str) -> bytes:
    """A ~200-byte JSON record with the generic envelope."""
    head = {
        "v": 1,
        "id": f"agent-t:{epoch}:{seq}",
        "shop": "shop-t",
        "agent": "agent-t",
        "epoch": epoch,
        "seq": seq,
        "ts": "2026-01-01T00:00:00+00:00",
        "kind": "scan",
    }
    raw = json.dumps(head)
    pad = max(0, PAYLOAD_PAD - len(raw) - 12)
    return json.dumps({**head, "pad": "x" * pad}).encode()


# --- throughput ---------------------------------------------------------------------


def consumer(url: str, topic: str) -> subprocess.Popen[bytes]:
    """A QoS 1 subscriber in its own process, as a backend would be."""
    port = url.rsplit(":", 1)[1]
    cmd = ["mosquitto_sub", "-p", port, "-q", "1", "-t", topic, "-V", "mqttv5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc


def raw_paho(url: str, n: int, work: Path | None = None) -> tuple[float, float]:
    """(msg/s, agent CPU us per message) for plain paho QoS 1, inflight 100, publishing
    as fast as paho takes them. With `work`, the reference ingest is the consumer and
    the clock stops when it has committed every record; else a light subscriber
    (mosquitto_sub) consumes and the clock stops at the last PUBACK."""
    port = int(url.rsplit(":", 1)[1])
    db = (work / "raw-backend.sqlite3") if work else None
    sub = start_ingest(url, db) if db else consumer(url, "bench/raw/#")
    pub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(100)
    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1

    pub.on_publish = on_publish
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    topic = BASE + "/scan" if db else "bench/raw/scan"
    epoch = "raw-epoch"
    t0, c0 = time.perf_counter(), time.process_time()
    for seq in range(1, n + 1):
        pub.publish(topic, payload(seq, epoch), qos=1)
    while acked < n:
        time.sleep(0.001)
    cpu = time.process_time() - c0
    while db is not None and backend_count(db) < n:
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    pub.disconnect()
    pub.loop_stop()
    sub.terminate()
    sub.wait()
    return n / dt, cpu / n * 1e6


def backend_count(db: Path) -> int:
    try:
        con = sqlite3.connect(db)
        try:
            return int(con.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0  # not created yet


def start_ingest(url: str, db: Path) -> subprocess.Popen[bytes]:
    """The reference ingest in its own process, as it would run on its own machine."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _INGEST, url, str(db)], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    t0 = time.monotonic()
    while not db.exists() and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    time.sleep(0.5)  # subscribed
    return proc


_INGEST = """
import asyncio, sys
from sync.ingest import Ingest, IngestSettings
asyncio.run(Ingest(IngestSettings(url=sys.argv[1], db=sys.argv[2], client_id="bench-ingest")).run())
"""


async def durable(url: str, n: int, work: Path) -> tuple[float, int, int]:
    """(msgs/s end to end, lost, duplicates after dedupe). The backend ingest runs in
    its own process, as it would on its own machine."""
    db = work / "backend.sqlite3"
    ing = await asyncio.to_thread(start_ingest, url, db)
    try:
        async with Outbox(work / "outbox.sqlite3") as ob:
            link = Link(ob, link_settings(url), status=status_render)
            link_task = asyncio.create_task(link.run())
            await link.wait_connected()
            await until(lambda: link.backend_hw >= ob.last_seq, what="ingest up")
            start_seq = ob.last_seq
            t0 = time.perf_counter()
            await produce(ob, n)
            last = ob.last_seq
            await until(lambda: link.backend_hw >= last, timeout=600, what="backend acks")
            dt = time.perf_counter() - t0
            epoch = ob.epoch
            await stop(link_task)
    finally:
        ing.terminate()
        await asyncio.to_thread(ing.wait)
    lost, dups = audit(db, epoch, set(range(start_seq + 1, last + 1)))
    return (last - start_seq) / dt, lost, dups


async def durable_to_broker(url: str, n: int, work: Path) -> tuple[float, float]:
    """(msg/s, agent CPU us per message) until every row is committed and broker-acked,
    a light subscriber consuming: the agent's side of the durable path alone."""
    sub = await asyncio.to_thread(consumer, url, BASE + "/#")
    try:
        async with Outbox(work / "outbox-broker.sqlite3") as ob:
            # Retention mode: rows stay broker-acked (the backend is not in this run).
            link = Link(ob, link_settings(url, ack_retention_s=3600.0))
            link_task = asyncio.create_task(link.run())
            await link.wait_connected()
            acks0 = link.counters.broker_acks
            t0, c0 = time.perf_counter(), time.process_time()
            await produce(ob, n)
            await until(lambda: link.counters.broker_acks - acks0 >= n, timeout=600, what="pubacks")
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            await stop(link_task)
    finally:
        sub.terminate()
        await asyncio.to_thread(sub.wait)
    return n / dt, cpu / n * 1e6


async def produce(ob: Outbox, n: int) -> None:
    """200 concurrent producers, as pipelines emit records, each awaiting its commit."""

    async def producer(count: int) -> None:
        for _ in range(count):
            await ob.put("scan", BASE + "/scan", payload)

    workers = 200
    await asyncio.gather(*(producer(n // workers + (i < n % workers)) for i in range(workers)))


def audit(db: Path, epoch: str, committed: set[int]) -> tuple[int, int]:
    """(committed records missing from the backend, rows sharing a record id)."""
    con = sqlite3.connect(db)
    try:
        seqs = [s for (s,) in con.execute("SELECT seq FROM records WHERE epoch=?", (epoch,))]
        ids = [
            json.loads(p)["id"]
            for (p,) in con.execute(
                "SELECT payload FROM records WHERE epoch=? AND payload IS NOT NULL", (epoch,)
            )
        ]
    finally:
        con.close()
    return len(committed - set(seqs)), len(ids) - len(set(ids))


# --- outage matrix ------------------------------------------------------------------


async def run_ingest(url: str, db: Path) -> tuple[Ingest, asyncio.Task[None]]:
    ing = Ingest(
        IngestSettings(
            url=url,
            db=str(db),
            client_id="bench-ingest",
            gap_grace_s=0.5,
            replay_every_s=1.0,
            backoff_min_s=0.05,
            backoff_max_s=0.5,
        )
    )
    return ing, asyncio.create_task(ing.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def drain(state: Path, url: str) -> tuple[str, int]:
    async with Outbox(state / "outbox.sqlite3") as ob:
        link = Link(ob, link_settings(url), status=status_render)
        add_replay(link)
        task = asyncio.create_task(link.run())
        with contextlib.suppress(AssertionError):  # what is missing is counted as lost
            await until(lambda: link.backend_hw >= ob.last_seq, timeout=120, what="drain")
        await stop(task)
        return ob.epoch, ob.last_seq


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def scenario(name: str, cycles: int, work: Path) -> dict[str, object]:
    persistence = name == "broker_kill_persistent"
    b = make_broker(work / "m", persistence=persistence)
    b.start()
    state = work / "agent"
    state.mkdir()
    db = work / "backend.sqlite3"
    rng = random.Random(3)
    ing, ing_task = await run_ingest(b.url, db)
    try:
        proc = None
        for _ in range(cycles):
            if proc is None or proc.poll() is not None:
                proc = subprocess.Popen(  # noqa: ASYNC220 - starts at once, never waited on here
                    [sys.executable, "-m", "tests.support.sync_agent", str(state), b.url],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            await asyncio.sleep(rng.uniform(0.6, 1.2))
            if name.startswith("broker_kill"):
                await asyncio.to_thread(b.kill)
                await asyncio.sleep(rng.uniform(0.05, 0.3))
                await asyncio.to_thread(b.start)
            elif name == "agent_kill":
                await asyncio.to_thread(kill9, proc)
            else:  # both at once
                await asyncio.gather(asyncio.to_thread(kill9, proc), asyncio.to_thread(b.kill))
                await asyncio.sleep(rng.uniform(0.05, 0.3))
                await asyncio.to_thread(b.start)
        if proc is not None:
            await asyncio.to_thread(kill9, proc)
        epoch, last = await drain(state, b.url)
    finally:
        await stop(ing_task)
        b.stop()
    committed = {int(x) for x in (state / "committed.log").read_text().split()}
    lost, dups = audit(db, epoch, committed | set(range(1, last + 1)))
    return {
        "scenario": name,
        "cycles": cycles,
        "committed": len(committed),
        "lost": lost,
        "duplicates_received": ing.counters.duplicates,
        "duplicates_after_dedupe": dups,
    }


async def throughput(url: str, n: int, rounds: int, work: Path) -> dict[str, float]:
    """Interleaved rounds of the four runs; medians (and the worst loss seen)."""
    keys = ("raw", "raw_cpu", "broker", "broker_cpu", "raw_e2e", "dur")
    runs: dict[str, list[float]] = {k: [] for k in keys}
    lost = dups = 0
    for r in range(rounds):
        rw = work / f"round{r}"
        for d in ("r", "b", "d"):
            (rw / d).mkdir(parents=True)
        raw, raw_cpu = await asyncio.to_thread(raw_paho, url, n)
        broker, broker_cpu = await durable_to_broker(url, n, rw / "b")
        raw_e2e, _ = await asyncio.to_thread(raw_paho, url, n, rw / "r")
        dur, lo, du = await durable(url, n, rw / "d")
        lost, dups = lost + lo, dups + du
        for k, v in zip(runs, (raw, raw_cpu, broker, broker_cpu, raw_e2e, dur), strict=True):
            runs[k].append(v)
        print(
            f"round {r + 1}/{rounds}: raw {raw:,.0f} msg/s ({raw_cpu:.0f} us CPU/msg), durable to broker "
            f"{broker:,.0f} ({broker_cpu:.0f} us/msg), raw to backend {raw_e2e:,.0f}, durable end to end "
            f"{dur:,.0f}; lost {lo}, duplicates after dedupe {du}",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {**med, "lost": lost, "dups": dups}


async def main(args: argparse.Namespace) -> dict[str, object]:
    n = args.n or (10_000 if args.quick else 50_000)
    rounds = args.rounds or (1 if args.quick else 3)
    cycles = args.cycles or (2 if args.quick else 10)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        b: Broker = make_broker(work / "tput")
        b.start()
        try:
            t = await throughput(b.url, n, rounds, work)
        finally:
            b.stop()
        print(
            f"medians of {rounds}, {n} x {PAYLOAD_PAD} B: raw paho QoS1 inflight 100 to PUBACK "
            f"{t['raw']:,.0f} msg/s; durable to broker-acked {t['broker']:,.0f} msg/s "
            f"= {t['broker'] / t['raw']:.2f} x raw; agent CPU {t['raw_cpu']:.0f} vs "
            f"{t['broker_cpu']:.0f} us/msg",
            flush=True,
        )
        print(
            f"end to end, reference ingest: raw {t['raw_e2e']:,.0f} msg/s, durable (outbox FULL + group "
            f"commit + link + ingest + backend ack) {t['dur']:,.0f} msg/s = "
            f"{t['dur'] / t['raw_e2e']:.2f} x raw with the same ingest, "
            f"{t['dur'] / t['raw']:.2f} x raw to PUBACK",
            flush=True,
        )
        rows = []
        for name in (
            "broker_kill_persistent",
            "broker_kill_no_persistence",
            "agent_kill",
            "agent_and_broker_kill",
        ):
            (work / name).mkdir()
            row = await scenario(name, cycles, work / name)
            rows.append(row)
            print(
                f"outage {name:28} cycles {cycles:3}: committed {row['committed']:6}, lost {row['lost']}, "
                f"duplicates received {row['duplicates_received']}, after dedupe "
                f"{row['duplicates_after_dedupe']}",
                flush=True,
            )
    return {
        "n": n,
        "rounds": rounds,
        "raw_msgs_per_s": round(t["raw"]),
        "durable_to_broker_msgs_per_s": round(t["broker"]),
        "agent_ratio": round(t["broker"] / t["raw"], 2),
        "agent_cpu_us_per_msg": {"raw": round(t["raw_cpu"]), "durable": round(t["broker_cpu"])},
        "raw_to_backend_msgs_per_s": round(t["raw_e2e"]),
        "durable_msgs_per_s": round(t["dur"]),
        "ratio": round(t["dur"] / t["raw_e2e"], 2),
        "ratio_vs_raw_puback": round(t["dur"] / t["raw"], 2),
        "lost": int(t["lost"]) + sum(int(str(r["lost"])) for r in rows),
        "duplicates_after_dedupe": int(t["dups"]) + sum(int(str(r["duplicates_after_dedupe"])) for r in rows),
        "outage_cycles_per_scenario": cycles,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # reconnect warnings are expected here
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller run, under a minute")
    p.add_argument("--n", type=int, default=0, help="records for the throughput run")
    p.add_argument("--rounds", type=int, default=0, help="throughput rounds (medians reported)")
    p.add_argument("--cycles", type=int, default=0, help="kill cycles per outage scenario")
    result = asyncio.run(main(p.parse_args()))
    print(json.dumps(result))
