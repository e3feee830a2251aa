"""What arrives for the agent on its link: backend acks and remote commands; and what
happens to rows the broker took when the backend's ack does not come (`housekeeping`).

Both are untrusted until proven: with an `auth_key`, a message whose MAC (sync/auth.py)
does not verify is counted (`unauthenticated`), logged once per burst and dropped
before its payload is even parsed. An authentic ack deletes the rows the broker took
up to its seq (sync/outbox.py `delete_through`); an authentic command goes to the
command channel. Replays, the one amplifying command, pass the ReplayGate
(sync/replay.py): one per window, the rest coalesced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sync.ack import parse_ack
from sync.auth import verify
from sync.commands import CommandChannel, Respond
from sync.envelope import AgentTopics
from sync.errors import BadMessageError
from sync.link_settings import LinkCounters, LinkSettings
from sync.mqtt import user_properties
from sync.outbox import Outbox
from sync.replay import ReplayGate
from untrusted import Rejections

__all__ = ["Inbound"]

log = logging.getLogger("baygate.sync.link")


class Inbound:
    def __init__(
        self,
        outbox: Outbox,
        settings: LinkSettings,
        counters: LinkCounters,
        commands: CommandChannel,
        rewind: Callable[[int], None],
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.counters = counters
        self.commands = commands
        self.backend_hw = 0
        base = settings.base_topic
        topics = AgentTopics(base)
        self.ack_topic, self.cmd_prefix = topics.ack, topics.cmd_prefix
        self.rejections = Rejections(log)  # refused acks/commands, logged once per burst
        self._key = settings.auth_key
        self._rewind = rewind
        self._ack: bytes | None = None  # only the newest ack matters
        self._ack_event = asyncio.Event()
        self._replays = ReplayGate(settings.replay_window_s)
        self._replay_timer: asyncio.TimerHandle | None = None
        self._replay_tasks: set[asyncio.Task[int]] = set()

    def offer(self, topic: str, payload: bytes, props: Any, respond: Respond) -> None:
        """One message on the ack or a command topic (on the event loop)."""
        user = user_properties(props)
        rt = getattr(props, "ResponseTopic", None)
        user.pop("rt", None)  # the MAC covers the real response topic, not a look-alike
        if rt:
            user["rt"] = rt
        if self._key is not None and not verify(self._key, topic, payload, user):
            # Whoever sent it does not hold this agent's key: not the backend.
            self.counters.unauthenticated += 1
            self.rejections.refuse("unauthenticated message", f"on {topic}")
            return
        if topic == self.ack_topic:
            self._ack = payload
            self._ack_event.set()
        elif topic.startswith(self.cmd_prefix):
            corr = getattr(props, "CorrelationData", None)
            self.commands.offer(topic[len(self.cmd_prefix) :], payload, rt, corr, respond)

    async def run_acks(self) -> None:
        """Apply backend acks, newest first, forever."""
        while True:
            await self._ack_event.wait()
            self._ack_event.clear()
            raw, self._ack = self._ack, None
            if raw is None:
                continue
            ob = self.outbox
            try:
                seq = parse_ack(raw, epoch=ob.epoch, last_seq=ob.last_seq, topic=self.ack_topic)
            except BadMessageError as exc:
                self.counters.bad_acks += 1
                self.rejections.refuse("backend ack", exc)
                continue
            if seq is None or seq <= self.backend_hw:
                continue
            self.backend_hw = seq
            self.counters.backend_acks += 1
            await ob.delete_through(seq)

    async def housekeeping(self) -> None:
        """While connected: rows the broker took but the backend has not acked within
        `ack_timeout_s` are sent again; with `ack_retention_s` (a backend that never
        acks), rows the broker took that long ago are deleted instead."""
        s = self.settings
        period = min(5.0, (s.ack_retention_s or s.ack_timeout_s) / 2) or 0.5
        while True:
            await asyncio.sleep(period)
            if s.ack_retention_s is not None:
                await self.outbox.delete_acked_before(s.ack_retention_s)
                continue
            low = await self.outbox.requeue_stale(s.ack_timeout_s)
            if low is not None:
                self.counters.ack_timeouts += 1
                log.info(
                    "backend has not acked rows from seq %d for %.0fs: sending them again",
                    low,
                    s.ack_timeout_s,
                )
                self._rewind(low - 1)

    async def replay(self, from_seq: int) -> int:
        """Send again every row still held from `from_seq` on (backend gap repair).
        At most one replay runs per `replay_window_s`; requests inside the window
        coalesce into one run at its end (returns 0 rows requeued now)."""
        decision = self._replays.request(from_seq)
        if decision.run_now:
            return await self._replay_now(from_seq)
        if self._replay_timer is None:
            loop = asyncio.get_running_loop()
            self._replay_timer = loop.call_later(decision.wait_s, self._replay_due)
        return 0

    async def _replay_now(self, from_seq: int) -> int:
        n = await self.outbox.requeue(from_seq)
        self._rewind(from_seq - 1)
        return n

    def _replay_due(self) -> None:
        self._replay_timer = None
        from_seq = self._replays.due()
        if from_seq is not None:
            task = asyncio.ensure_future(self._replay_now(from_seq))
            self._replay_tasks.add(task)
            task.add_done_callback(self._replay_tasks.discard)
