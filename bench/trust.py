"""Trust layer costs and bounds (issue 10), each against a baseline measured in the same run.

1. The link to broker-acked, without and with the per-agent MAC on every record
   (sync/auth.py): msg/s and agent CPU us per message, medians of rounds.
2. Parsing one ~1 kB agent record: json.loads vs the bounded parser (untrusted/),
   and the worst case the depth scan meets (1 MiB with 100k brackets inside strings).
3. The ingest's replay requests with 5,000 fake streams with gaps over one simulated
   hour: the old policy (one request per gap every 5 s) vs sync/gaps.py.
4. 50 replay commands within a second: rows resent from a 157-row outbox, old
   (every replay resends everything) vs the replay gate (sync/replay.py).

    .venv/bin/python bench/trust.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sync import consumer, produce, stop  # noqa: E402 - after sys.path
from sync.auth import new_key  # noqa: E402 - after sys.path
from sync.gaps import GapTracker  # noqa: E402 - after sys.path
from sync.link import Link  # noqa: E402 - after sys.path
from sync.outbox import Outbox  # noqa: E402 - after sys.path
from sync.replay import ReplayGate  # noqa: E402 - after sys.path
from tests.support.sync import BASE, link_settings, make_broker, until  # noqa: E402 - after sys.path
from untrusted import parse_json  # noqa: E402 - after sys.path


async def to_broker(url: str, n: int, work: Path, key: bytes | None) -> tuple[float, float]:
    """(msg/s, agent CPU us/msg) until every row is broker-acked (retention mode)."""
    sub = await asyncio.to_thread(consumer, url, BASE + "/#")
    try:
        async with Outbox(work / f"outbox-{time.monotonic_ns()}.sqlite3") as ob:
            link = Link(ob, link_settings(url, ack_retention_s=3600.0, auth_key=key))
            task = asyncio.create_task(link.run())
            await link.wait_connected()
            acks0 = link.counters.broker_acks
            t0, c0 = time.perf_counter(), time.process_time()
            await produce(ob, n)
            await until(lambda: link.counters.broker_acks - acks0 >= n, timeout=600, what="pubacks")
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            await stop(task)
    finally:
        sub.terminate()
        await asyncio.to_thread(sub.wait)
    return n / dt, cpu / n * 1e6


def record() -> bytes:
    """A vehicle-report-sized record (~1 kB, nesting 4)."""
    dtcs = [{"code": f"P0{300 + i}", "ecu": "7E8", "description": "Misfire detected " * 2} for i in range(6)]
    body = {
        "v": 1, "id": "bay-1:e:42", "shop": "s", "agent": "bay-1", "epoch": "e", "seq": 42,
        "ts": "2026-01-01T00:00:00+00:00", "kind": "vehicle_report", "vin": "1FTFW1ET9DFC10312",
        "dtcs": {"stored": dtcs, "pending": [], "permanent": []}, "readiness": {"mil": True, "count": 6},
    }  # fmt: skip
    return json.dumps(body).encode()


def parse_costs() -> dict[str, float]:
    raw = record()
    n = 20_000
    base = min(timeit.repeat(lambda: json.loads(raw), number=n, repeat=5)) / n * 1e6
    bounded = min(timeit.repeat(lambda: parse_json(raw, max_bytes=1 << 20), number=n, repeat=5)) / n * 1e6
    tricky = json.dumps({"s": ["[{" * 50_000, "x" * 400_000]}).encode()  # ~600 kB, 100k brackets in strings
    worst = min(timeit.repeat(lambda: parse_json(tricky, max_bytes=1 << 20), number=5, repeat=3)) / 5 * 1e3
    worst_base = min(timeit.repeat(lambda: json.loads(tricky), number=5, repeat=3)) / 5 * 1e3
    return {
        "bytes": len(raw),
        "json_us": base,
        "bounded_us": bounded,
        "worst_ms": worst,
        "worst_base_ms": worst_base,
    }


def replay_storm() -> tuple[float, float, int]:
    """(old requests/s, new requests/s averaged over the hour, new peak per second)."""
    now = [0.0]
    g = GapTracker(clock=lambda: now[0], rng=lambda: 0.5)
    for i in range(5000):
        g.update("s", f"fake-{i}", "e", 1, 5)
    sent, peak = 0, 0
    per_s = 0
    for tick in range(2 * 3600):  # the ingest's 0.5 s watch loop
        now[0] += 0.5
        k = len(g.due())
        sent += k
        per_s += k
        if tick % 2:
            peak, per_s = max(peak, per_s), 0
    old = 5000 / 5.0  # every gap every replay_every_s, forever
    return old, sent / 3600, peak


def replay_amplification(outbox_rows: int = 157, commands: int = 50) -> tuple[int, int]:
    now = [0.0]
    gate = ReplayGate(5.0, clock=lambda: now[0])
    runs = 0
    for _ in range(commands):
        now[0] += 1.0 / commands
        runs += gate.request(1).run_now
    now[0] += 5.0
    runs += gate.due() is not None
    return outbox_rows * commands, outbox_rows * runs


async def main(args: argparse.Namespace) -> dict[str, object]:
    n = 5_000 if args.quick else 30_000
    rounds = 1 if args.quick else 3
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="bench-trust-") as tmp:
        work = Path(tmp)
        b = make_broker(work / "m", persistence=False)
        b.start()
        try:
            plain, signed = [], []
            for _ in range(rounds):  # interleaved, so load on the machine hits both alike
                plain.append(await to_broker(b.url, n, work, None))
                signed.append(await to_broker(b.url, n, work, key))
        finally:
            b.stop()
    p_rate, p_cpu = (statistics.median(x) for x in zip(*plain, strict=True))
    s_rate, s_cpu = (statistics.median(x) for x in zip(*signed, strict=True))
    print(
        f"link to broker-acked, medians of {rounds} x {n}: plain {p_rate:,.0f} msg/s "
        f"({p_cpu:.0f} us CPU/msg), with MAC {s_rate:,.0f} msg/s ({s_cpu:.0f} us CPU/msg) "
        f"= {s_rate / p_rate:.2f} x plain"
    )
    c = parse_costs()
    print(
        f"parse one {c['bytes']} B record: json.loads {c['json_us']:.1f} us, "
        f"bounded {c['bounded_us']:.1f} us = {c['bounded_us'] / c['json_us']:.2f} x; "
        "worst case (600 kB, 100k brackets in strings) "
        f"{c['worst_ms']:.1f} ms vs json.loads {c['worst_base_ms']:.1f} ms"
    )
    old, new, peak = replay_storm()
    print(
        f"5,000 fake streams with gaps, one hour: old {old:,.0f} replay requests/s forever; "
        f"now {new:.2f}/s on average, peak {peak}/s, none after the hour"
    )
    old_rows, new_rows = replay_amplification()
    print(f"50 replay commands in 1 s, 157-row outbox: old {old_rows:,} rows resent, now at most {new_rows}")
    return {
        "mac_ratio": round(s_rate / p_rate, 2),
        "plain_msgs_per_s": round(p_rate),
        "mac_msgs_per_s": round(s_rate),
        "cpu_us_per_msg": {"plain": round(p_cpu), "mac": round(s_cpu)},
        "parse_ratio": round(c["bounded_us"] / c["json_us"], 2),
        "replays_per_s": {"old": old, "new_avg": round(new, 2), "new_peak": peak},
        "replay_rows": {"old": old_rows, "new": new_rows},
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller run, under a minute")
    print(json.dumps(asyncio.run(main(p.parse_args()))))
