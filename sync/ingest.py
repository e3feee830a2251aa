"""The reference backend ingest (`baygate backend`): MQTT -> SQLite/PostgreSQL, exactly once.

- Subscribes `$share/{group}/baygate/v1/+/+/+` (MQTT 5 shared subscription) with a
  persistent session (clean start off, session expiry `session_expiry_s`), so N
  instances with distinct client ids split the load behind any broker that supports
  shared subscriptions (Mosquitto 2, EMQX, HiveMQ, VerneMQ), and a restarted instance
  gets what the broker kept for it.
- Manual acknowledgement: a message is PUBACKed only after the transaction that
  stored it committed, so an ingest crash never loses a record the broker handed over.
  `ReceiveMaximum` bounds what the broker sends before we ack: the natural backpressure.
- Insert-if-absent keyed by (agent, epoch, seq) and the stream's high-water mark in the
  same transaction (sync/store.py); after each batch the new high-water mark is
  published retained on `baygate/v1/{shop}/{agent}/ack` as `{"epoch": E, "seq": HW}`.
- A stream whose highest seq is above its high-water mark for `gap_grace_s` has a gap:
  the ingest sends the agent a `replay` command (`{"epoch": E, "from_seq": HW+1}`,
  reply on `baygate/v1/{shop}/{agent}/reply`), repeated with backoff from
  `replay_every_s` while the gap lasts, bounded and expiring (sync/gaps.py).

Untrusted input (issue 10): every message goes through the bounded envelope parser and
`rules` (the agent's kinds, tombstone kinds); a refused one is stored as a bounded
reject, acked (consumed: a persistent session never redelivers poison), counted and
logged once per burst. QoS 0 messages are discarded and counted: they would bypass
Receive Maximum, and the agent never sends QoS 0. With `keys_dir`, a record counts
only with a valid MAC made with its agent's key (sync/auth.py), and acks and replay
commands are signed with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from resilience import Backoff, BackoffPolicy
from sync.ack import encode_ack
from sync.auth import MAC_PROPERTY, sign, verify
from sync.envelope import OPEN_RULES, TOPIC_ROOT, AgentTopics, Incoming, Rules, parse_incoming, record_topic
from sync.errors import BadMessageError, LinkError, SessionTakenOverError, StoreError, SyncError
from sync.gaps import GapTracker
from sync.keyring import KeyRing
from sync.link_settings import reconnect_forever
from sync.mqtt import (
    TlsFiles,
    connack_error,
    connect_error,
    describe_disconnect,
    make_client,
    parse_url,
    properties,
    user_properties,
)
from sync.paho_loop import PahoLoop
from sync.store import AgentStats, Reject, Store, StreamState, open_store
from untrusted import Rejections, UntrustedInputError, parse_object

__all__ = ["Ingest", "IngestCounters", "IngestSettings"]

log = logging.getLogger("baygate.sync.ingest")
# DISCONNECT reason: another client connected with our client id (MQTT 5, 3.14.2.1).
_SESSION_TAKEN_OVER = 0x8E
T = TypeVar("T")


@dataclass(frozen=True)
class IngestSettings:
    url: str = "mqtt://127.0.0.1:1883"
    db: str = "baygate-backend.sqlite3"
    client_id: str = "baygate-ingest-1"
    group: str = "ingest"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    db_password: str | None = field(default=None, repr=False)
    batch: int = 500
    receive_maximum: int = 1000
    gap_grace_s: float = 2.0
    replay_every_s: float = 5.0  # first repeat of a replay request; backs off to replay_max_s
    replay_max_s: float = 300.0
    replay_rate_per_s: float = 20.0  # all gaps together
    max_gaps: int = 1000
    gap_expire_s: float = 3600.0
    keys_dir: Path | None = None  # {keys_dir}/{shop}/{agent}.key: records must be signed
    rules: Rules = OPEN_RULES
    session_expiry_s: int = 7 * 86400
    keepalive_s: int = 30
    backoff_min_s: float = 0.5
    backoff_max_s: float = 15.0
    # Brokers that close a taken-over session without DISCONNECT 0x8E (Mosquitto 2.0.11
    # just closes the socket) show it as this many drops in a row of sessions that never
    # stayed up for the backoff's healthy period, each time while the broker itself kept
    # accepting connections (a broker that crashed or restarts refuses them: not counted).
    takeover_drops: int = 3

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{TOPIC_ROOT}/+/+/+"


@dataclass
class IngestCounters:
    batches: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    acks_published: int = 0
    replays_requested: int = 0
    replay_replies: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    unauthenticated: int = 0  # records without a valid MAC from their agent's key
    skipped: int = 0  # seqs agents no longer hold, acked by a backend this store lacks
    qos0_dropped: int = 0


_MAX_STREAMS = 10_000  # `streams` kept in memory (for stats and tests), newest last


Message = tuple[Any, int, int, str, bytes, dict[str, str]]  # client, mid, qos, topic, payload, user


class Ingest:
    def __init__(self, settings: IngestSettings, store: Store | None = None) -> None:
        self._backoff = Backoff(BackoffPolicy(first_s=settings.backoff_min_s, cap_s=settings.backoff_max_s))
        self.settings = settings
        self.endpoint = parse_url(settings.url)
        self.counters = IngestCounters()
        self.connected = False
        self.last_error: SyncError | None = None
        self.streams: dict[tuple[str, str], StreamState] = {}  # (agent, epoch) -> latest
        self._store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._msgs: list[Message] = []
        self._net: PahoLoop | None = None  # the current client's network loop
        self._wake = asyncio.Event()
        self._connack: asyncio.Future[tuple[Any, Any]] | None = None
        s = settings
        policy = BackoffPolicy(first_s=s.replay_every_s, cap_s=max(s.replay_every_s, s.replay_max_s))
        self.gaps = GapTracker(
            grace_s=s.gap_grace_s,
            policy=policy,
            max_gaps=s.max_gaps,
            expire_s=s.gap_expire_s,
            rate_per_s=s.replay_rate_per_s,
        )
        self._acked_hw: dict[tuple[str, str], int] = {}
        self._keys = KeyRing(s.keys_dir) if s.keys_dir is not None else None
        self.rejections = Rejections(log)
        self._taken_over = ""  # why we believe another client holds our client id
        self._drops = 0  # consecutive young sessions dropped while the broker stayed up
        self._silent_drop = False  # the last session ended without a DISCONNECT reason

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def stats(self) -> list[AgentStats]:
        store = self._store
        if store is None:
            return []
        return await self._db(store.stats)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        owned = self._store is None
        try:
            if self._store is None:
                self._store = await self._db(open_store, self.settings.db, self.settings.db_password)
            await reconnect_forever(self._session, self._failed, self._backoff)
        finally:
            if owned and self._store is not None:
                store, self._store = self._store, None
                await asyncio.get_running_loop().run_in_executor(self._executor, store.close)
            self._executor.shutdown(wait=True)

    def _failed(self, exc: SyncError) -> None:
        self.last_error = exc
        if isinstance(exc, SessionTakenOverError):
            raise exc  # ends reconnect_forever: the other instance keeps the session
        self._drops = 0  # the broker did not accept us: a network or broker problem
        log.warning("backend ingest: %s", exc)

    async def _session(self) -> None:
        s, ep = self.settings, self.endpoint
        client = make_client(
            s.client_id, username=s.username, password=s.password, tls=s.tls, manual_ack=True
        )
        client.on_connect = lambda c, _u, _f, rc, props: self._call(self._on_connack, c, rc, props)
        client.on_disconnect = lambda c, _u, f, rc, _p: self._call(self._on_lost, c, rc, f)
        client.on_message = lambda c, _u, m: self._call(self._on_message, c, m)
        self._net = PahoLoop(client)
        self._client, self._msgs = client, []
        self._connack = asyncio.get_running_loop().create_future()
        props = properties(
            PacketTypes.CONNECT, SessionExpiryInterval=s.session_expiry_s, ReceiveMaximum=s.receive_maximum
        )
        try:
            try:
                await asyncio.to_thread(
                    client.connect, ep.host, ep.port, s.keepalive_s, clean_start=False, properties=props
                )
            except Exception as exc:
                raise connect_error(exc, ep) from None
            try:
                async with asyncio.timeout(10.0):
                    reason, _ = await self._connack
            except TimeoutError:
                raise LinkError(f"no CONNACK from {ep.host}:{ep.port}") from None
            if reason.is_failure:
                raise connack_error(reason)
            client.subscribe([(s.subscription, SubscribeOptions(qos=1))])
            self.connected, self.last_error = True, None
            self.counters.connects += 1
            self._backoff.up()
            log.info("backend ingest up: %s on %s:%d", s.subscription, ep.host, ep.port)
            await self._serve(client)
            if self._silent_drop and not self._taken_over:
                self._silent_drop = False
                self._drops = self._drops + 1 if await self._broker_listening() else 0
                if self._drops >= s.takeover_drops:
                    self._taken_over = (
                        f"the broker closed it {self._drops} times in a row right after accepting it, "
                        "while accepting other connections"
                    )
            if self._taken_over:
                raise SessionTakenOverError(
                    f"another client connected with client id {s.client_id!r} and took this "
                    f"session over ({self._taken_over}): give each ingest instance its own --client-id"
                )
        finally:
            self.connected = False
            self._client = None
            with contextlib.suppress(Exception):
                client.disconnect()
            self._net.flush()
            await self._net.close()

    async def _broker_listening(self) -> bool:
        """A bare TCP connect (no MQTT CONNECT: it takes nothing over). A broker that was
        killed or is restarting refuses it; one that closed only us accepts it."""
        ep = self.endpoint
        try:
            async with asyncio.timeout(1.0):
                _, writer = await asyncio.open_connection(ep.host, ep.port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _serve(self, client: Any) -> None:
        gaps = asyncio.create_task(self._gap_watch(client))
        try:
            while self._client is client:
                await self._wake.wait()
                self._wake.clear()
                while self._msgs and self._client is client:
                    batch, self._msgs = self._msgs[: self.settings.batch], self._msgs[self.settings.batch :]
                    await self._process(client, batch)
        finally:
            gaps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gaps

    async def _process(self, client: Any, batch: list[Message]) -> None:
        records: list[Incoming] = []
        rejects: list[Reject] = []
        for _c, _mid, _qos, topic, payload, user in batch:
            if topic.endswith("/ack") and topic.startswith(TOPIC_ROOT + "/"):
                continue  # our own acks match the wildcard; not records
            if topic.endswith("/reply") and topic.startswith(TOPIC_ROOT + "/"):
                self._on_reply(payload)
                continue
            try:
                rec = parse_incoming(topic, payload, user, self.settings.rules)
                records.append(self._authentic(rec, user))
            except BadMessageError as exc:
                self.rejections.refuse("record", exc)
                rejects.append(Reject(topic, payload, str(exc)))
        store = self._store
        assert store is not None
        try:
            result = await self._db(store.commit, records, rejects)
        except StoreError:
            client.disconnect()  # unacked messages come again on the next session
            raise
        for _c, mid, qos, *_ in batch:
            client.ack(mid, qos)
        c = self.counters
        c.batches += 1
        c.inserted += result.inserted
        c.duplicates += result.duplicates
        c.rejected += result.rejected
        for shop, agent, epoch, n in result.skipped:
            c.skipped += n
            log.warning(
                "%s/%s epoch %s: %d records were acked by a backend before this database had them "
                "and are no longer held by the agent; the high-water mark moves past them",
                shop, agent, epoch, n,
            )  # fmt: skip
        for st in result.streams:
            self._advanced(client, st)

    def _authentic(self, rec: Incoming, user: dict[str, str]) -> Incoming:
        """The record itself when its MAC verifies with its agent's key (or when no
        key directory is configured); BadMessageError otherwise."""
        if self._keys is None:
            return rec
        key = self._keys.key(rec.shop, rec.agent)
        topic = record_topic(rec.shop, rec.agent, rec.kind)
        if key is None:
            self.counters.unauthenticated += 1
            raise BadMessageError(f"record on {topic}: no key for agent {rec.shop}/{rec.agent}")
        if not verify(key, topic, rec.payload, user):
            self.counters.unauthenticated += 1
            raise BadMessageError(f"record on {topic}: MAC does not verify with the agent's key")
        return rec

    def _signed(self, shop: str, agent: str, topic: str, payload: bytes, **props: Any) -> Any:
        """Publish properties carrying our MAC when the agent has a key."""
        key = self._keys.key(shop, agent) if self._keys is not None else None
        if key is not None:
            rt = props.get("ResponseTopic")
            props["UserProperty"] = [(MAC_PROPERTY, sign(key, topic, payload, {"rt": rt} if rt else {}))]
        return properties(**props) if props else None

    def _advanced(self, client: Any, st: StreamState) -> None:
        key = (st.agent, st.epoch)
        self.streams.pop(key, None)
        self.streams[key] = st
        if len(self.streams) > _MAX_STREAMS:
            self.streams.pop(next(iter(self.streams)))
        if st.hw > self._acked_hw.get(key, 0):
            self._acked_hw.pop(key, None)
            self._acked_hw[key] = st.hw
            if len(self._acked_hw) > _MAX_STREAMS:  # forgetting one only re-sends its ack
                self._acked_hw.pop(next(iter(self._acked_hw)))
            topic, body = AgentTopics.of(st.shop, st.agent).ack, encode_ack(st.epoch, st.hw)
            props = self._signed(st.shop, st.agent, topic, body)
            client.publish(topic, body, qos=1, retain=True, properties=props)
            self.counters.acks_published += 1
        self.gaps.update(st.shop, st.agent, st.epoch, st.hw, st.max_seq)

    async def _gap_watch(self, client: Any) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(min(0.5, s.gap_grace_s))
            for req in self.gaps.due():
                shop, agent = req.shop, req.agent
                topics = AgentTopics.of(shop, agent)
                topic = topics.command("replay")
                body = json.dumps({"epoch": req.epoch, "from_seq": req.from_seq}).encode()
                props = self._signed(
                    shop,
                    agent,
                    topic,
                    body,
                    ResponseTopic=topics.reply,
                    CorrelationData=uuid.uuid4().bytes,
                )
                client.publish(topic, body, qos=1, properties=props)
                self.counters.replays_requested += 1
                log.info("gap in %s/%s after seq %d: replay requested", shop, agent, req.from_seq - 1)

    # --- paho callbacks -> event loop ---------------------------------------------------
    # paho runs on the event loop (sync.paho_loop); only callbacks fired inside
    # connect(), in its worker thread, are handed over with call_soon_threadsafe.

    def _call(self, fn: Any, *args: Any) -> None:
        if self._net is not None:
            self._net.call(fn, *args)

    def _on_connack(self, client: Any, reason: Any, props: Any) -> None:
        if client is self._client and self._connack is not None and not self._connack.done():
            self._connack.set_result((reason, props))

    def _on_lost(self, client: Any, reason: Any, flags: Any = None) -> None:
        if client is not self._client:
            return
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(LinkError(f"connection closed before CONNACK: {reason}"))
        code = getattr(reason, "value", reason)
        if code == _SESSION_TAKEN_OVER:
            self._taken_over = "MQTT reason 0x8E"
        else:
            # judged in _session, which can ask whether the broker still listens
            self._silent_drop = bool(code) and not self._backoff.healthy()
            if self._backoff.healthy():
                self._drops = 0
            orderly, words = describe_disconnect(flags, reason)
            (log.info if orderly else log.warning)("backend ingest connection lost: %s", words)
        self._client = None
        self._wake.set()

    def _on_message(self, client: Any, msg: Any) -> None:
        if client is not self._client:
            return  # a dead session's message: the broker sends it again
        if msg.qos == 0:
            # Unacknowledged, so outside Receive Maximum: a flood would grow _msgs
            # without bound. The agent publishes everything at QoS 1.
            self.counters.qos0_dropped += 1
            self.rejections.refuse("QoS 0 message", msg.topic[:200])
            return
        payload = bytes(msg.payload)
        self._msgs.append((client, msg.mid, msg.qos, msg.topic, payload, user_properties(msg.properties)))
        self._wake.set()

    def _on_reply(self, payload: bytes) -> None:
        try:
            body = parse_object(payload, max_bytes=64 * 1024, max_depth=8, what="command reply")
            ok = body.get("ok") is True
        except UntrustedInputError as exc:
            self.rejections.refuse("command reply", exc)
            ok = False
        key = "ok" if ok else "error"
        self.counters.replay_replies[key] = self.counters.replay_replies.get(key, 0) + 1
        if not ok:
            self.rejections.refuse("replay reply", repr(payload[:200]))
