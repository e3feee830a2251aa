"""`baygate simulate fleet --agents N --rate R`: N light simulated agents in one process.

Each agent is a real `Runtime` (its own outbox under STATE/SHOP/AGENT, its own MQTT
link and client id, birth and Last Will, command channel) whose only pipeline emits a
telemetry record with simulated readings R times a second, through the real outbox sink.
What is simulated is the reading, nothing on the way to the backend: so the backend's
ingest is measured with many agents (bench/fleet.py) and a fleet view has a fleet.

At the end (`--duration` elapsed, or SIGTERM/SIGINT) the producers stop, the agents get
up to `--drain` seconds for the backend to ack everything, and with `--summary FILE`
one JSON object per agent is written: shop, agent, epoch, last_seq, backend_hw,
telemetry (records emitted). Exit 0, or 2 on bad options. An unreachable broker is
not an error: the agents keep their records and retry, as real ones do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config import Config, parse_config
from agent.errors import ConfigError
from agent.pipelines.sink import RecordSink
from agent.service.runtime import Runtime

__all__ = ["main"]

PIDS = (("RPM", "rpm", 750.0, 3000.0), ("SPEED", "km/h", 0.0, 120.0), ("COOLANT_TEMP", "degC", 20.0, 95.0))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="baygate simulate fleet", description=__doc__.split("\n")[0])
    p.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="broker URL")
    p.add_argument("--agents", type=int, default=10, help="how many agents (1-2000)")
    p.add_argument("--rate", type=float, default=1.0, help="telemetry records per second per agent")
    p.add_argument("--shops", type=int, default=0, help="spread agents over this many shops (0: 1 per 10)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to produce; 0 = until signalled")
    p.add_argument("--drain", type=float, default=30.0, help="seconds to wait for backend acks at the end")
    p.add_argument("--state", type=Path, default=None, help="state root (default: a temp dir, deleted)")
    p.add_argument("--summary", type=Path, default=None, help="write one JSON line per agent here")
    p.add_argument("--prefix", default="sim", help="agent id prefix")
    return p


def _config(state: Path, url: str, shop: str, agent: str) -> Config:
    return parse_config({"agent": {"shop_id": shop, "agent_id": agent, "state_dir": str(state)},
                         "mqtt": {"url": url}}, environ={})  # fmt: skip


def _telemetry(rate: float, stop: asyncio.Event, rng: random.Random) -> Any:
    period = 1.0 / rate

    async def produce(sink: RecordSink) -> None:
        loop = asyncio.get_running_loop()
        # Spread the agents' ticks over one period so they do not fire in lockstep.
        nxt = loop.time() + rng.random() * period
        while not stop.is_set():
            delay = nxt - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
                continue
            samples = [{"pid": n, "value": round(rng.uniform(lo, hi), 1), "unit": u} for n, u, lo, hi in PIDS]
            await sink.emit("telemetry", {"dongle": "sim", "samples": samples})
            nxt += period
        await asyncio.Event().wait()  # stay up: the link still delivers and takes acks

    return produce


async def run_fleet(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    shops = args.shops or max(1, math.ceil(args.agents / 10))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rts: list[Runtime] = []
    for i in range(args.agents):
        shop, agent = f"{args.prefix}-shop-{i % shops:03d}", f"{args.prefix}-{i:04d}"
        cfg = _config(root / shop / agent, args.mqtt, shop, agent)
        pipe = _telemetry(args.rate, stop, random.Random(i))
        rts.append(Runtime(cfg, [pipe], backoff_min_s=0.2, backoff_max_s=5.0))
    started = time.monotonic()
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(rt.run()) for rt in rts]
        if args.duration > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.duration):
                    await stop.wait()
            stop.set()
        else:
            await stop.wait()
        produced_s = time.monotonic() - started
        end = loop.time() + args.drain
        while loop.time() < end:
            if all(_drained(rt) for rt in rts):
                break
            await asyncio.sleep(0.2)
        summary = [_summary(rt) for rt in rts]
        for t in tasks:
            t.cancel()
    total = sum(s["last_seq"] for s in summary)
    acked = sum(min(s["backend_hw"], s["last_seq"]) for s in summary)
    print(f"simulate fleet: {len(rts)} agents, {total} records committed in {produced_s:.1f}s, "
          f"{acked} acked by the backend", file=sys.stderr)  # fmt: skip
    return summary


def _drained(rt: Runtime) -> bool:
    return rt.link is not None and rt.outbox is not None and rt.link.backend_hw >= rt.outbox.last_seq


def _summary(rt: Runtime) -> dict[str, Any]:
    a = rt.config.agent
    ob, link, sink = rt.outbox, rt.link, rt.sink
    return {
        "shop": a.shop_id,
        "agent": a.agent_id,
        "epoch": ob.epoch if ob else None,
        "last_seq": ob.last_seq if ob else 0,
        "backend_hw": link.backend_hw if link else 0,
        "telemetry": sink.emitted.get("telemetry", 0) if sink else 0,
    }


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    if not 1 <= args.agents <= 2000 or not 0 < args.rate <= 100 or args.duration < 0 or args.drain < 0:
        print("baygate simulate fleet: --agents 1-2000, 0 < --rate <= 100, --duration/--drain >= 0",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        with contextlib.ExitStack() as stack:
            tmp = None if args.state else stack.enter_context(tempfile.TemporaryDirectory(prefix="bg-fleet-"))
            root = args.state or Path(str(tmp))
            summary = asyncio.run(run_fleet(args, root))
    except ConfigError as exc:
        print(f"baygate simulate fleet: {exc}", file=sys.stderr)
        return 2
    if args.summary is not None:
        args.summary.write_text("".join(json.dumps(s, sort_keys=True) + "\n" for s in summary))
    return 0
