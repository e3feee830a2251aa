"""Demo steps for sync: records go through the outbox and a real Mosquitto to the
reference backend, and the last step shows what the backend received.

`step` (early in STEPS) starts a Mosquitto on a free port, the backend ingest (SQLite
in the demo dir) and the agent runtime (outbox + link + commands), then swaps
`ctx.sink` for the outbox sink, so every later step's records travel the real path.
`report_step` (last in STEPS) waits until the backend has committed everything the
agent emitted and prints counts per kind and the exactly-once check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

from agent.demo.broker import LocalBroker
from agent.errors import AgentError
from agent.pipelines.sink import TeeSink
from agent.service.runtime import Runtime
from sync.ingest import Ingest, IngestSettings
from sync.store import open_store

if TYPE_CHECKING:  # agent.demo.runner imports this module for STEPS
    from agent.demo.runner import DemoContext

__all__ = ["report_step", "step"]

_BACKEND = "sync.backend_db"
_WAIT_S = 30.0


@contextlib.asynccontextmanager
async def _task(name: str, coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def step(ctx: DemoContext) -> None:
    broker = await ctx.stack.enter_async_context(LocalBroker(ctx.workdir / "mosquitto"))
    db = ctx.workdir / "backend.sqlite3"
    ingest = Ingest(IngestSettings(url=broker.url, db=str(db), client_id="demo-ingest"))
    await ctx.stack.enter_async_context(_task("ingest", ingest.run()))
    config = ctx.config.model_copy(update={"mqtt": ctx.config.mqtt.model_copy(update={"url": broker.url})})
    runtime = Runtime(config, backoff_min_s=0.1, backoff_max_s=1.0)
    await ctx.stack.enter_async_context(_task("runtime", runtime.run()))
    t0 = time.monotonic()
    while runtime.link is None or not runtime.link.connected or not ingest.connected:
        if time.monotonic() - t0 > _WAIT_S:
            raise AgentError(f"link/ingest not up: {runtime.link and runtime.link.last_error}")
        await asyncio.sleep(0.02)
    assert runtime.sink is not None and runtime.outbox is not None
    # A tee, so later steps can narrate what went through the durable outbox.
    ctx.sink = TeeSink(runtime.sink)
    ctx.services["mqtt"] = broker.url
    ctx.services[_BACKEND] = str(db)
    ctx.services["sync.epoch"] = runtime.outbox.epoch
    ctx.say(f"mosquitto on {broker.url} (persistence on), backend ingest -> {db.name}")
    ctx.say(
        f"outbox {config.agent.state_dir / 'outbox.sqlite3'} epoch {runtime.outbox.epoch[:8]}…, "
        f"link up in {time.monotonic() - t0:.2f}s; later steps emit through the outbox"
    )
    # one record of our own, so the path is proven even if no other step emits
    rec = await ctx.sink.emit("alert", {"severity": "info", "code": "demo_start", "message": "demo started"})
    ctx.say(f"emitted {rec.id}")
    _RUNNING[id(ctx)] = (runtime, ingest)


# The runtime and ingest the sync step started, for the report step (ctx.services
# holds strings only).
_RUNNING: dict[int, tuple[Runtime, Ingest]] = {}


async def report_step(ctx: DemoContext) -> None:
    runtime, ingest = _RUNNING.pop(id(ctx), (None, None))
    if runtime is None or ingest is None or runtime.outbox is None or runtime.link is None:
        raise AgentError("the sync step did not run")
    outbox, link = runtime.outbox, runtime.link
    last = outbox.last_seq
    t0 = time.monotonic()
    while link.backend_hw < last:
        if time.monotonic() - t0 > _WAIT_S:
            raise AgentError(f"backend acked up to seq {link.backend_hw} of {last} within {_WAIT_S}s")
        await asyncio.sleep(0.05)
    st = await outbox.stats()
    store = await asyncio.to_thread(open_store, ctx.services[_BACKEND])
    try:
        rows = await asyncio.to_thread(store.records)
        presence = await asyncio.to_thread(store.presence)
    finally:
        store.close()
    mine = [r for r in rows if r[1] == outbox.epoch]
    seqs = [r[2] for r in mine]
    kinds = Counter(r[3] for r in mine if r[4] is not None)
    ids_ok = all(json.loads(p)["id"].endswith(f":{s}") for _, _, s, _, p in mine if p)
    ctx.say(
        f"backend has {len(mine)} records in {time.monotonic() - t0:.2f}s: "
        + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items()))
    )
    once = sorted(seqs) == list(range(1, last + 1))
    ctx.say(
        f"exactly once: seqs 1..{last} each present once: {once}; ids match seqs: {ids_ok}; "
        f"duplicates deduped: {ingest.counters.duplicates}"
    )
    c = link.counters
    ctx.say(
        f"the broker acknowledged {c.broker_acks} records (MQTT QoS 1: it holds them); the backend "
        f"confirmed {c.backend_acks} times that it stored everything up to a sequence number "
        "(one confirmation covers every record before it, so there are fewer); "
        f"{c.historical} records had to be sent again; outbox now holds {st.depth} undelivered"
    )
    ctx.say(
        "presence (the retained status record; the Last Will turns it offline): "
        + ", ".join(f"{a} {state} in MQTT session {n}" for a, (state, n) in sorted(presence.items()))
    )
    if not once or not ids_ok:
        raise AgentError("backend does not hold every record exactly once")
