"""The MQTT link: outbox rows -> broker (QoS 1), backend acks -> row deletion, commands.

How it avoids paho's measured failure modes:
- paho is handed a row only while connected and only while fewer than `inflight`
  rows await their PUBACK, so paho never queues offline (a QoS 1 publish while
  disconnected "fails" with MQTT_ERR_NO_CONN yet is queued, up to 65,535, in RAM).
- every connection gets a fresh paho client; the old one is dropped with whatever it
  held, because paho resends all unacked messages at once on reconnect, ignoring
  max_inflight, whatever the clean-start setting. The outbox is the only queue.
- a PUBACK only marks a row broker-acked (`SENT`): the broker may crash before it
  delivers or saves it (measured: 1-21 records lost per crash when rows were deleted
  on PUBACK). Rows are deleted when the backend's committed high-water mark arrives
  on `{base}/ack` (`{"epoch": "...", "seq": N}`, retained). On every (re)connect, and
  when broker-acked rows wait longer than `ack_timeout_s` for the backend, they are
  sent again; the backend dedupes by (agent, epoch, seq).
- with `ack_retention_s` set (backends that never ack), broker-acked rows are deleted
  after that long instead and are not resent on reconnect: the weaker guarantee.

Resent records carry the MQTT 5 user property `historical=1` (payloads are opaque to
sync): a row is historical when it was committed before the current connection's
CONNACK, i.e. it waited out an outage, a restart, or is a replay.
Dropped telemetry rows go out as tombstones: empty payload, user properties
`dropped=1`, `epoch`, `seq`, so the backend can close the gap.

Authentication (sync/auth.py): with `auth_key` set, every record and tombstone goes
out with an HMAC (`mac` user property) and only acks and commands whose `mac` verifies
with the same key are acted on; anything else is counted (`unauthenticated`) and
logged once per burst. An ack deletes only rows the broker has PUBACKed: a row that
was pending when its ack came is deleted after its PUBACK. Replays are coalesced and
bounded (sync/replay.py).

Status: a held "online" birth row and the same record as Last Will, "offline", before
each connection (sync/link_status.py). The broker's limits: sync/link_limits.py.

paho runs its network loop in its own thread; every callback is bridged into asyncio
with `loop.call_soon_threadsafe`, and PUBACK waiters are keyed by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from resilience import Backoff, BackoffPolicy
from sync.auth import MAC_PROPERTY, sign
from sync.commands import CommandChannel, Reply, encode_reply
from sync.envelope import AgentTopics
from sync.errors import LinkError, OutboxFullError, SyncError
from sync.link_inbound import Inbound
from sync.link_limits import BrokerLimits, OnRejected
from sync.link_settings import (
    LinkCounters,
    LinkSettings,
    StatusInfo,
    StatusRender,
    reconnect_forever,
)
from sync.link_status import hold_birth, put_status, set_will
from sync.mqtt import (
    PackedProperties,
    connack_error,
    connect_error,
    describe_disconnect,
    make_client,
    parse_url,
    properties,
)
from sync.outbox import Outbox
from sync.outbox_schema import TOMB_REJECTED, Row
from sync.paho_loop import PahoLoop

__all__ = ["Link", "LinkCounters", "LinkSettings", "OnRejected", "StatusInfo", "StatusRender"]

log = logging.getLogger("baygate.sync.link")

_NO_SUBSCRIBERS = 0x10  # PUBACK reason: accepted but no subscriber, i.e. dropped
_RETRY_S = 1.0
_READ_AHEAD = 500


class Link:
    def __init__(
        self,
        outbox: Outbox,
        settings: LinkSettings,
        *,
        status: StatusRender | None = None,
        commands: CommandChannel | None = None,
        on_rejected: OnRejected | None = None,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.endpoint = parse_url(settings.url)
        self.commands = commands or CommandChannel()
        self.counters = LinkCounters()
        self.connected = False
        self.last_error: SyncError | None = None
        self._status = status
        self._key = settings.auth_key
        self._rng = rng
        self._clock = clock
        self._backoff = Backoff(
            BackoffPolicy(first_s=settings.backoff_min_s, cap_s=settings.backoff_max_s), clock=clock, rng=rng
        )
        base = settings.base_topic
        topics = AgentTopics(base)
        self.status_topic, self.ack_topic, self.cmd_prefix = topics.status, topics.ack, topics.cmd_prefix
        self._loop: asyncio.AbstractEventLoop | None = None
        self._net: PahoLoop | None = None  # the current client's network loop
        self._client: Any = None
        self._connack: asyncio.Future[tuple[Any, Any]] | None = None
        self._lost = asyncio.Event()
        self._up = asyncio.Event()
        self._room = asyncio.Event()
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._props_historical = PackedProperties([("historical", "1")])
        self._acked: list[int] = []
        self._acked_event = asyncio.Event()
        self._rewind: int | None = None
        self._connected_at = 0.0
        self._retry_floor: int | None = None
        self._birth: tuple[int, bytes] | None = None
        self._birth_seq = 0  # held birth: session, Last Will
        self._live_session = 0  # the session of the connection that is up
        self._gone_said_at = -float("inf")  # the last status saying which rows are gone
        self.inbound = Inbound(outbox, settings, self.counters, self.commands, self._rewind_to)
        self.limits = BrokerLimits(outbox, self.counters, settings.inflight, self._rewind_to, on_rejected)

    # --- public ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, deliver and reconnect until cancelled."""
        self._loop = asyncio.get_running_loop()
        if self._key is None:
            log.warning(
                "no mqtt.auth_key: acks and commands are obeyed on the broker's word alone "
                "(docs/security.md)"
            )
        await self.outbox.drop_held()  # births of a process killed while connecting
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._ack_writer())
            tg.create_task(self.inbound.run_acks())
            tg.create_task(self.commands.serve(self._reply))
            tg.create_task(reconnect_forever(self._session, self._failed, self._backoff))

    async def wait_connected(self) -> None:
        await self._up.wait()

    async def replay(self, from_seq: int) -> int:
        """Resend held rows from `from_seq` (gap repair), bounded: sync/replay.py.
        Rows asked for that are gone (a backend acked them, so they were deleted) cannot
        come again; a backend asking for them lost them (a database restored from an
        older backup, or a new one) and would wait for ever, acking nothing after them.
        A status record saying which rows are gone (`acked_through`) goes out instead,
        at most once per replay window."""
        now = self._clock()
        due = now - self._gone_said_at >= self.settings.replay_window_s
        if self._status is not None and self.connected and due:
            st = await self.outbox.stats()
            if from_seq <= st.acked_through:
                self._gone_said_at = now
                with contextlib.suppress(OutboxFullError):  # the birth said it too
                    await put_status(self.outbox, self.status_topic, self._status, self._live_session, st)
        return await self.inbound.replay(from_seq)

    @property
    def backend_hw(self) -> int:
        """The backend's committed high-water mark, from its last authentic ack."""
        return self.inbound.backend_hw

    # --- connection --------------------------------------------------------------------

    def _failed(self, exc: SyncError) -> None:
        self.last_error = exc
        name = type(exc).__name__
        self.counters.errors[name] = self.counters.errors.get(name, 0) + 1
        log.warning("mqtt link: %s", exc)

    async def _session(self) -> None:
        s = self.settings
        if self._status and self._birth is None:  # reused across failed attempts
            try:
                session = await self.outbox.next_counter("session")
                self._birth_seq, held = await hold_birth(
                    self.outbox, self.status_topic, self._status, session
                )
                self._birth = (session, held)
            except OutboxFullError as exc:
                # Even the disk reserve is gone. Connect anyway, without a birth and
                # Last Will: the acks this connection receives are what frees space.
                log.error("connecting without a status birth/Last Will: %s", exc)
        session, will = self._birth or (0, None)
        # The window is ours (`_sender`); paho's own limit would only add cost: with
        # max_inflight > 0 paho rescans every unacked message on each PUBACK (measured:
        # a third of the link's CPU at 100 in flight, 13.8k vs 11.2k msg/s without it).
        client = make_client(s.client_id, username=s.username, password=s.password, tls=s.tls, inflight=0)
        if will is not None:
            set_will(client, self.status_topic, will, self._key)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_publish = self._cb_publish
        client.on_message = self._cb_message
        self._net = PahoLoop(client)
        self._client, self._lost = client, asyncio.Event()
        self._connack = asyncio.get_running_loop().create_future()
        graceful = False
        try:
            await self._connect(client)
            await self._online(client, session)
            await self._serve(client)
        except asyncio.CancelledError:
            graceful = True
            raise
        finally:
            await self._teardown(client, graceful)

    async def _connect(self, client: Any) -> None:
        s, ep = self.settings, self.endpoint
        props = properties(PacketTypes.CONNECT, SessionExpiryInterval=0)
        try:
            await asyncio.to_thread(
                client.connect, ep.host, ep.port, s.keepalive_s, clean_start=True, properties=props
            )
        except Exception as exc:
            raise connect_error(exc, ep) from None
        assert self._connack is not None
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                reason, props = await self._connack
        except TimeoutError:
            raise LinkError(f"no CONNACK from {ep.host}:{ep.port} within {s.connect_timeout_s}s") from None
        if reason.is_failure:
            raise connack_error(reason)
        self.limits.from_connack(props)  # Maximum Packet Size, Receive Maximum

    async def _online(self, client: Any, session: int) -> None:
        self.connected, self.last_error = True, None
        self._live_session = session
        self._connected_at = self._clock()
        self.counters.connects += 1
        self._inflight.clear()
        opts = SubscribeOptions(qos=1)
        client.subscribe([(self.ack_topic, opts), (self.cmd_prefix + "+", opts)])
        if self.settings.ack_retention_s is None:
            # Not yet committed by the backend: send again. On a disk too full for
            # this write they stay broker-acked and the ack timeout resends them.
            with contextlib.suppress(OutboxFullError):
                await self.outbox.requeue(0)
        await self.outbox.release_held()  # the birth goes out first
        self._birth = None
        self._up.set()
        self._backoff.up()
        log.info("mqtt link up: %s:%s session %d", self.endpoint.host, self.endpoint.port, session)

    async def _serve(self, client: Any) -> None:
        tasks = [
            asyncio.create_task(self._sender(client)),
            asyncio.create_task(self.inbound.housekeeping()),
            asyncio.create_task(self._lost.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # re-raise a sender/housekeeping failure
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _teardown(self, client: Any, graceful: bool) -> None:
        was_up = self.connected
        self.connected = False
        self._up.clear()
        if was_up:
            # 0x04 "Disconnect with Will Message": on shutdown the broker still tells
            # the backend we are offline.
            code = ReasonCode(PacketTypes.DISCONNECT, identifier=4 if graceful else 0)
            with contextlib.suppress(Exception):
                client.disconnect(reasoncode=code)
            if self._net is not None:
                self._net.flush()  # the DISCONNECT leaves now, not never
        self._client = None
        if self._net is not None:
            await self._net.close()
        self._inflight.clear()
        self._room.set()

    # --- sending -----------------------------------------------------------------------

    def _rewind_to(self, cursor: int) -> None:
        self._rewind = cursor if self._rewind is None else min(self._rewind, cursor)
        self.outbox.changed.set()

    async def _sender(self, client: Any) -> None:
        cursor = 0
        buf: deque[Row] = deque()  # read ahead: one DB read per ~500 rows, not per PUBACK
        while True:
            if self._rewind is not None:
                cursor, self._rewind = min(cursor, self._rewind), None
                buf.clear()
            room = self.limits.window - len(self._inflight)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            if not buf:
                self.outbox.changed.clear()
                rows = self.outbox.fresh(after=cursor, limit=_READ_AHEAD)
                if rows is None:  # behind the in-memory tail: read SQLite
                    rows = await self.outbox.pending(after=cursor, limit=max(room, _READ_AHEAD))
                    if self._rewind is not None:
                        continue  # read before a rewind: stale
                if not rows:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self.outbox.changed.wait()
                    continue
                buf.extend(rows)
            while buf and room > 0 and self._client is client and self._rewind is None:
                row = buf.popleft()
                historical, props = self._properties(row)
                if self.limits.too_big(row, props):
                    await self.limits.reject(row)
                    cursor = row.seq  # rewound by reject() when it became a tombstone
                    continue
                self._publish(client, row, props)
                self.counters.historical += historical
                cursor = row.seq
                room -= 1
                self.counters.peak_inflight = max(self.counters.peak_inflight, len(self._inflight))

    def _properties(self, row: Row) -> tuple[bool, Properties | None]:
        historical = (row.created < self._connected_at and row.seq != self._birth_seq) or row.attempts > 0
        props: Properties | None = self._props_historical if historical else None
        if row.dropped or self._key is not None:
            user = [("historical", "1")] if historical else []
            if row.dropped:
                user += [("dropped", "1"), ("epoch", self.outbox.epoch), ("seq", str(row.seq))]
                if row.dropped == TOMB_REJECTED:
                    user.append(("reason", "rejected"))
            if self._key is not None:
                user.append((MAC_PROPERTY, sign(self._key, row.topic, row.payload or b"", user)))
            props = PackedProperties(user)
        return historical, props

    def _publish(self, client: Any, row: Row, props: Properties | None) -> None:
        info = client.publish(row.topic, row.payload, qos=1, retain=row.retain, properties=props)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise LinkError(f"publish refused by paho: {paho.error_string(info.rc)}")
        self._inflight[info.mid] = row.seq
        self.counters.published += 1

    async def _ack_writer(self) -> None:
        while True:
            await self._acked_event.wait()
            self._acked_event.clear()
            batch, self._acked = self._acked, []
            if batch:
                # Rows PUBACKed after the backend's ack covered them (a resend, or a
                # PUBACK lost with its connection) go now; the rest wait for an ack.
                await self.outbox.mark_sent(batch, committed_through=self.backend_hw)
                self.counters.broker_acks += len(batch)

    # --- incoming ----------------------------------------------------------------------

    def _reply(self, topic: str, correlation: bytes | None, reply: Reply) -> None:
        client = self._client
        if client is None or not self.connected:
            return  # the requester times out; commands are not queued across outages
        props = properties(CorrelationData=correlation) if correlation else None
        with contextlib.suppress(Exception):
            client.publish(topic, encode_reply(reply), qos=1, properties=props)

    def _incoming(self, client: Any, topic: str, payload: bytes, props: Any) -> None:
        if client is self._client:
            self.inbound.offer(topic, payload, props, self._reply)

    # --- paho callbacks -> event loop ---------------------------------------------------
    # paho runs on the event loop (sync.paho_loop); only callbacks fired inside
    # connect(), in its worker thread, are handed over with call_soon_threadsafe.

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if self._net is not None:
            self._net.call(fn, *args)

    def _cb_connect(self, client: Any, _u: Any, _f: Any, reason: Any, props: Any) -> None:
        self._call(self._on_connack, client, reason, props)

    def _on_connack(self, client: Any, reason: Any, props: Any) -> None:
        if client is self._client and self._connack is not None and not self._connack.done():
            self._connack.set_result((reason, props))

    def _cb_disconnect(self, client: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self._call(self._on_lost, client, reason, flags)

    def _on_lost(self, client: Any, reason: Any, flags: Any = None) -> None:
        if client is not self._client:
            return
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(LinkError(f"connection closed before CONNACK: {reason}"))
        elif self.connected:
            orderly, words = describe_disconnect(flags, reason)
            (log.info if orderly else log.warning)("mqtt link lost: %s; reconnecting", words)
        self._lost.set()

    def _cb_publish(self, client: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._call(self._on_puback, client, mid, reason)

    def _on_puback(self, client: Any, mid: int, reason: Any) -> None:
        if client is not self._client:
            return
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return
        self._room.set()
        if getattr(reason, "value", 0) == _NO_SUBSCRIBERS:
            # The broker dropped it: nobody (no backend ingest) is subscribed yet.
            # Keep it pending and offer it again in a second.
            self.counters.no_subscribers += 1
            self._retry_later(seq)
            return
        if getattr(reason, "is_failure", False):
            self.counters.refused_pubacks += 1
            log.warning("broker refused row %d: %s", seq, reason)
            return  # stays pending; resent on the next connection
        self._acked.append(seq)
        self._acked_event.set()

    def _retry_later(self, seq: int) -> None:
        first = self._retry_floor is None
        self._retry_floor = seq if first else min(seq, self._retry_floor or seq)
        if first and self._loop is not None:
            self._loop.call_later(_RETRY_S, self._retry_now)

    def _retry_now(self) -> None:
        floor, self._retry_floor = self._retry_floor, None
        if floor is not None and self.connected:
            self._rewind_to(floor - 1)

    def _cb_message(self, client: Any, _u: Any, msg: Any) -> None:
        self._call(self._incoming, client, msg.topic, bytes(msg.payload), msg.properties)
