"""Helpers for sync tests: generic records, a running ingest, polling without sleeping blindly."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from sync.commands import CommandArgs
from sync.ingest import Ingest, IngestSettings
from sync.link import Link, LinkSettings, StatusInfo
from sync.outbox import Outbox
from sync.store import Store, open_store
from tests.support.broker import Broker

SHOP = "shop-t"
AGENT = "agent-t"
BASE = f"baygate/v1/{SHOP}/{AGENT}"


def render(
    kind: str, body: dict[str, object] | None = None, agent: str = AGENT
) -> Callable[[int, str], bytes]:
    """A generic JSON envelope like the agent's records (sync does not know the models)."""

    def r(seq: int, epoch: str) -> bytes:
        rec = {
            "v": 1,
            "id": f"{agent}:{epoch}:{seq}",
            "shop": SHOP,
            "agent": agent,
            "epoch": epoch,
            "seq": seq,
            "ts": datetime.now(UTC).isoformat(),
            "kind": kind,
            **(body or {}),
        }
        return json.dumps(rec).encode()

    return r


def status_render(seq: int, epoch: str, info: StatusInfo) -> bytes:
    return render("status", {"state": info.state, "session": info.session, "version": "t"})(seq, epoch)


def link_settings(url: str, **kw: object) -> LinkSettings:
    base: dict[str, object] = {
        "url": url,
        "client_id": f"baygate-{SHOP}-{AGENT}",
        "base_topic": BASE,
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.5,
        "ack_timeout_s": 3.0,
    }
    base.update(kw)
    return LinkSettings(**base)  # type: ignore[arg-type]


async def until(
    cond: Callable[[], bool],
    timeout: float = 30.0,  # noqa: ASYNC109
    what: str = "condition",
) -> None:
    """Poll `cond` every 20 ms; fail with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def drained(ob: Outbox, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until the outbox holds no row: an ack's deletion (or a late PUBACK's) runs
    just after `backend_hw` moves, so poll rather than assert at once."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (st := await ob.stats()).depth:
        if loop.time() > end:
            raise AssertionError(f"outbox not drained: {st}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(coro_fn: Callable[[], object]) -> AsyncIterator[asyncio.Task[object]]:
    task: asyncio.Task[object] = asyncio.ensure_future(coro_fn())  # type: ignore[arg-type]
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def ingest(url: str, db: Path | str, **kw: object) -> AsyncIterator[Ingest]:
    # A fresh client id and shared-subscription group per use: on the session-wide
    # broker, an earlier test's persistent ingest session stays a member of its group
    # and would be dealt its share of our records (that is how shared subscriptions
    # with persistent sessions work; see docs/operations.md).
    import uuid

    tag = uuid.uuid4().hex[:8]
    base: dict[str, object] = {
        "url": url,
        "db": str(db),
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.5,
        "gap_grace_s": 0.5,
        "replay_every_s": 1.0,
        "client_id": f"ingest-{tag}",
        "group": f"g{tag}",
    }
    base.update(kw)
    settings = IngestSettings(**base)  # type: ignore[arg-type]
    ing = Ingest(settings)
    async with running(ing.run):
        yield ing


@contextlib.asynccontextmanager
async def agent_side(state: Path, url: str, **kw: object) -> AsyncIterator[tuple[Outbox, Link]]:
    async with Outbox(state / "outbox.sqlite3") as ob:
        link = Link(ob, link_settings(url, **kw), status=status_render)
        add_replay(link)
        async with running(link.run):
            yield ob, link


class ReplayArgs(CommandArgs):
    epoch: str
    from_seq: int


def add_replay(link: Link) -> None:
    """What agent/service/commands.py registers, minus the agent (sync tests import no agent)."""

    async def replay(args: ReplayArgs) -> dict[str, int]:
        if args.epoch != link.outbox.epoch:
            raise ValueError("wrong epoch")
        return {"requeued": await link.replay(args.from_seq)}

    link.commands.register("replay", ReplayArgs, replay)


def store_records(db: Path | str) -> list[tuple[str, str, int, str, bytes | None]]:
    store: Store = open_store(str(db))
    try:
        return store.records()
    finally:
        store.close()


@contextlib.asynccontextmanager
async def subscriber(url: str, topic: str) -> AsyncIterator[list[tuple[str, bytes]]]:
    """A plain QoS 1 subscriber (so the broker has someone to deliver to); collects messages."""
    import paho.mqtt.client as paho

    port = int(url.rsplit(":", 1)[1])
    got: list[tuple[str, bytes]] = []
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe(topic, qos=1)
    await asyncio.sleep(0.2)  # SUBACK
    try:
        yield got
    finally:
        c.disconnect()
        c.loop_stop()


def make_broker(workdir: Path, *, persistence: bool = True, extra: str = "") -> Broker:
    """A Broker for sync tests. The harness already keeps mosquitto's user (so it can
    persist into pytest's 0700 tmp dirs as root) and saves once a second."""
    return Broker(workdir=workdir, persistence=persistence, extra_conf=extra)


def send_command(
    url: str,
    base: str,
    name: str,
    payload: bytes,
    *,
    respond: bool = True,
    timeout: float = 10.0,
    key: bytes | None = None,
) -> tuple[dict[str, object] | None, bytes | None]:
    """Send one command like a backend would (signed with the agent's `key` if given);
    return (reply JSON, echoed correlation)."""
    import queue
    import uuid

    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    port = int(url.rsplit(":", 1)[1])
    reply_topic = f"test-requester/{uuid.uuid4().hex}"
    corr = uuid.uuid4().bytes
    got: queue.Queue[tuple[bytes, bytes | None]] = queue.Queue()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.on_message = lambda _c, _u, m: got.put(
        (bytes(m.payload), getattr(m.properties, "CorrelationData", None))
    )
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.subscribe(reply_topic, qos=1)
        import time

        time.sleep(0.1)
        props = Properties(PacketTypes.PUBLISH)
        if respond:
            props.ResponseTopic = reply_topic
            props.CorrelationData = corr
        topic = f"{base}/cmd/{name}"
        if key is not None:
            from sync.auth import MAC_PROPERTY, sign

            signed = {"rt": reply_topic} if respond else {}
            props.UserProperty = [(MAC_PROPERTY, sign(key, topic, payload, signed))]
        c.publish(topic, payload, qos=1, properties=props).wait_for_publish(5)
        try:
            body, echoed = got.get(timeout=timeout if respond else 0.5)
        except queue.Empty:
            return None, None
        assert echoed == corr
        return json.loads(body), echoed
    finally:
        c.disconnect()
        c.loop_stop()
