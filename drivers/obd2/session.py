"""An ELM327 session: commands under deadlines, link health, resync, reconnect.

Init (the AT sequence, its fallbacks and what is remembered per dongle) is init.py;
python-OBD sleeps a fixed 3 s there and takes 4-6 s to connect, we wait for each
prompt. Reconnects wait the one backoff policy (resilience.Backoff).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import Enum

from drivers.obd2.adapter import AdapterInfo, Quirk
from drivers.obd2.elm327 import encode_command, reply_lines
from drivers.obd2.errors import (
    AdapterError,
    CommandTimeout,
    ConnectFailed,
    LinkLost,
    NegativeResponse,
    OBDError,
    ProtocolError,
    TransportError,
    UnknownCommand,
)
from drivers.obd2.frames import Framing, framing_for_protocol
from drivers.obd2.init import Init
from drivers.obd2.reply import Reply, parse_reply, request_text
from drivers.obd2.store import DongleStore, MemoryStore
from drivers.obd2.transports.base import Transport
from resilience import Backoff, BackoffPolicy

__all__ = ["LinkState", "Quirk", "Session"]

log = logging.getLogger("baygate.obd2.session")


class LinkState(Enum):
    CONNECTING = "connecting"
    READY = "ready"
    DEGRADED = "degraded"  # commands time out or fail, the link is still up
    LOST = "lost"


# After this many consecutive failed commands the link counts as lost.
LOST_AFTER = 3
# A clone that drops the prompt: a reply followed by this much silence is complete.
# Longer than ATST (200 ms), which an adapter may still be waiting out before its
# prompt: writing earlier would interrupt it (STOPPED).
UNPROMPTED_QUIET_S = 0.3


class Session:
    def __init__(
        self,
        transport: Transport | Callable[[], Transport],
        *,
        dongle: str,
        store: DongleStore | None = None,
        timeout: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_state: Callable[[LinkState], None] | None = None,
        backoff: Backoff | BackoffPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`sleep` waits between reconnect attempts (inject a stop-aware or fake one);
        `backoff` is the reconnect policy (resilience.BackoffPolicy, the one policy, or a
        Backoff shared with the caller's loop):
        it resets only after a connection stayed up `healthy_after_s`, so a dongle
        that connects and drops is retried no faster than the policy allows."""
        self._factory = transport if callable(transport) and not isinstance(transport, Transport) else None
        self.transport: Transport = transport if isinstance(transport, Transport) else transport()
        self.dongle = dongle
        self.store: DongleStore = store if store is not None else MemoryStore()
        self.timeout = timeout
        self._sleep = sleep
        self._on_state = on_state
        self._lock = asyncio.Lock()
        self.state = LinkState.CONNECTING
        self.quirks: set[Quirk] = set()
        self.version = ""
        self.protocol: str | None = None
        self.framing = Framing.CAN11
        self.supported: dict[str, set[int]] = {}
        self.failures = 0
        self.warm = False  # connected with remembered settings
        self._dirty = False  # a command timed out: its late reply may still come
        self.refused: set[str] = set()  # optional AT commands this adapter refuses (adapter.py)
        self.adapter = AdapterInfo("unknown", "")
        self.last_reply = ""  # the last OBD reply's text (init guesses the protocol from it)
        self.responders = 0  # messages in the 0100 reply: ECUs that answer
        # A Backoff is shared with a caller's own loop (the agent's vehicle session);
        # a policy (or None: the default one) gets a Backoff of its own.
        self.backoff = backoff if isinstance(backoff, Backoff) else Backoff(backoff, clock=clock)

    # --- state ------------------------------------------------------------------

    def _set_state(self, state: LinkState) -> None:
        if state is not self.state:
            log.info("%s: link %s -> %s", self.dongle, self.state.value, state.value)
            self.state = state
            if self._on_state is not None:
                self._on_state(state)

    @property
    def ecus(self) -> list[str]:
        return sorted(self.supported)

    @property
    def is_can(self) -> bool:
        return self.framing.is_can

    # --- commands ---------------------------------------------------------------

    async def _exchange(self, cmd: str, wait_s: float) -> str:
        unprompted = UNPROMPTED_QUIET_S if Quirk.MISSING_PROMPT in self.quirks else None
        await self.transport.write(encode_command(cmd))
        try:
            return await self.transport.read_reply(wait_s, accept_unprompted=unprompted)
        except CommandTimeout:
            pending = self.transport.pending
            if pending.strip() and pending.endswith(("\r", "\n")):
                # The reply came but no prompt: a clone quirk. Accept it and remember.
                self.quirks.add(Quirk.MISSING_PROMPT)
                self.transport.discard_input()
                return pending
            self.transport.discard_input()
            raise

    async def command(self, cmd: str, wait_s: float | None = None) -> str:
        """Send one command and return its raw reply (text before `>`), under a deadline.

        Tracks link health: a timeout degrades the link, LOST_AFTER in a row or a
        transport failure loses it.
        """
        async with self._lock:
            if self.state is LinkState.LOST:
                raise LinkLost(f"{self.dongle}: link lost; reconnect first")
            try:
                if self._dirty:
                    await self._resync(wait_s or self.timeout)
                reply = await self._exchange(cmd, wait_s or self.timeout)
            except CommandTimeout:
                self._dirty = True
                self._failed()
                raise
            except TransportError:
                self._set_state(LinkState.LOST)
                raise
            self.failures = 0
            if self.state is LinkState.DEGRADED:
                self._set_state(LinkState.READY)
            return reply

    async def _resync(self, wait_s: float) -> None:
        """After a timeout the late reply may still arrive and would answer the next
        command (and every one after it, one behind). Ask `ATI` and drop replies until
        the adapter's banner comes back: from then on replies match requests again."""
        self.transport.discard_input()
        await self.transport.write(encode_command("ATI"))
        for _ in range(4):  # the late reply, maybe STOPPED, then the banner
            reply = await self.transport.read_reply(wait_s)
            if any(m in reply.upper() for m in ("ELM", "STN", "OBD")):
                self._dirty = False
                return
        raise CommandTimeout("adapter out of step: no banner after ATI")

    def _failed(self) -> None:
        self.failures += 1
        if self.failures >= LOST_AFTER:
            self._set_state(LinkState.LOST)
        elif self.state is LinkState.READY:
            self._set_state(LinkState.DEGRADED)

    async def at(self, cmd: str, wait_s: float | None = None) -> list[str]:
        """An AT command's reply lines (echo removed). Raises AdapterError on `?`."""
        return reply_lines(await self.command(cmd, wait_s), cmd)

    async def request(
        self, service: int, payload: bytes = b"", count: int | None = None, wait_s: float | None = None
    ) -> Reply:
        """One OBD request, its reply parsed per ECU. Raises typed OBDErrors."""
        if Quirk.NO_COUNT_DIGIT in self.quirks:
            count = None
        text = request_text(service, payload, count)
        raw = await self.command(text, wait_s)
        self.last_reply = raw
        try:
            return parse_reply(raw, text, service, self.framing)
        except UnknownCommand:
            if count is None or not 1 <= count <= 15:
                raise
            # '?' to a request with the count digit: an ELM327 before v1.3 has no digit
            # (the odd-length request is not hex to it). Ask without it, and never again.
            self.quirks.add(Quirk.NO_COUNT_DIGIT)
            return await self.request(service, payload, None, wait_s)
        except NegativeResponse:
            if count is None:
                raise
            # The count digit stops the adapter after `count` frames. If a slower ECU's
            # positive answer came after another ECU's `7F` refusal, the refusal is all we
            # saw: ask once more without the digit (one ATST wait, ~200 ms) before
            # believing that every ECU refused.
            return await self.request(service, payload, None, wait_s)
        except ProtocolError:
            if Quirk.ECHO_STUCK not in self.quirks and _squash(raw).startswith(text):
                self.quirks.add(Quirk.ECHO_STUCK)
            raise

    # --- connect ----------------------------------------------------------------

    async def connect(self) -> None:
        """Open the transport and initialise the adapter. Raises ConnectFailed & co.,
        naming the init step that failed; an optional command never fails it."""
        self._set_state(LinkState.CONNECTING)
        self.failures = 0
        self._dirty = False
        init = Init(self)
        self.transport.discard_input()
        await self.transport.open()
        try:
            memory = await asyncio.to_thread(self.store.get, self.dongle)
            await init.run(memory)
        except (CommandTimeout, AdapterError, ProtocolError) as exc:
            await self.transport.close()
            self._set_state(LinkState.LOST)
            what = "the car did not answer" if init.step.startswith("reach") else "adapter init failed"
            raise ConnectFailed(f"{self.transport.description}: {what} at {init.step}: {exc}") from exc
        except OBDError:
            await self.transport.close()
            self._set_state(LinkState.LOST)
            raise
        self._set_state(LinkState.READY)
        self.backoff.up()  # healthy only once it has stayed up healthy_after_s

    def set_protocol(self, number: str) -> None:
        self.protocol = number
        headers = Quirk.NO_HEADERS not in self.quirks
        # ATSP0: the framing is only known after the search; CAN 11-bit is the common
        # case and parse_messages on a 0100 answer will tell if it was wrong.
        self.framing = framing_for_protocol(number if number != "0" else "6", headers)

    async def close(self) -> None:
        await self.transport.close()
        self.state = LinkState.LOST  # closed on purpose: no state-change event

    async def reconnect(self, *, attempts: int = 5, wait_first: bool = True) -> None:
        """Close and connect again, each attempt after the backoff's delay.

        The delay comes before the first attempt too: a link that just ended (a
        dongle that accepts the connection and drops it) must not be retried at
        once, or a connect-drop loop spins at ~100/s (issue 12). It is short
        (first_s) after a connection that stayed healthy, and grows otherwise.
        `wait_first=False` is for a caller whose loop waited this backoff already.
        """
        last: OBDError | None = None
        for attempt in range(1, attempts + 1):
            await self.transport.close()
            if wait_first or attempt > 1:
                await self._sleep(self.backoff.next_delay())
            if self._factory is not None:
                self.transport = self._factory()
            try:
                await self.connect()
                return
            except OBDError as exc:
                last = exc
                # The agent's log handler rate-limits repeated identical warnings
                # (agent/logs.py BurstFilter): one line a minute for a flapping dongle.
                log.warning("%s: reconnect attempt %d failed: %s", self.dongle, attempt, exc)
        raise ConnectFailed(f"{self.dongle}: gave up after {attempts} reconnect attempts: {last}")


def _squash(s: str) -> str:
    return s.replace(" ", "").replace("\r", "").replace("\n", "").upper()
