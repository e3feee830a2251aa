"""An ELM327 session: prompt-driven init, deadlines, link health, reconnect, quirks.

Init waits for each prompt instead of sleeping (python-OBD sleeps a fixed 3 s and
takes 4-6 s to connect). First contact: `ATWS` (a warm reset, a quarter of
`ATZ`'s ~1 s), then `ATE0 ATL0 ATS0 ATH1 ATAT1`, `ATSPA6` (auto, CAN 11/500 first),
`0100`, `ATDPN`. A dongle seen before (see
store.py): `ATD` (instant) instead of `ATZ`, the cached protocol instead of the
search, and the count digit on `0100`, which brings connect to about 10 round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import Enum, StrEnum

from drivers.obd2.elm327 import encode_command, reply_lines
from drivers.obd2.errors import (
    AdapterError,
    CommandTimeout,
    ConnectFailed,
    LinkLost,
    NegativeResponse,
    NoData,
    OBDError,
    ProtocolError,
    TransportError,
    UnableToConnect,
)
from drivers.obd2.frames import Framing, framing_for_protocol
from drivers.obd2.pids import supported_from_bitmap
from drivers.obd2.reply import Reply, parse_reply, request_text
from drivers.obd2.store import DongleMemory, DongleStore, MemoryStore
from drivers.obd2.transports.base import Transport

__all__ = ["LinkState", "Quirk", "Session"]

log = logging.getLogger("baygate.obd2.session")


class LinkState(Enum):
    CONNECTING = "connecting"
    READY = "ready"
    DEGRADED = "degraded"  # commands time out or fail, the link is still up
    LOST = "lost"


class Quirk(StrEnum):
    ECHO_STUCK = "echo_stuck"  # ATE0 answered OK but echo stays on
    NO_HEADERS = "no_headers"  # ATH1 not answered OK: parse headerless
    MISSING_PROMPT = "missing_prompt"  # reply not followed by '>' after errors


# After this many consecutive failed commands the link counts as lost.
LOST_AFTER = 3
# ATZ/ATWS: up to about 1 s on real adapters; allow slow clones 3x.
RESET_TIMEOUT_S = 3.0
# ATSP0 + 0100 searches protocols one after another: up to ~6 s on a non-CAN car.
SEARCH_TIMEOUT_S = 10.0
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
    ) -> None:
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
            if pending.strip() and pending.endswith(("\r", "\n")) and unprompted is None:
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
        text = request_text(service, payload, count)
        raw = await self.command(text, wait_s)
        try:
            return parse_reply(raw, text, service, self.framing)
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
        """Open the transport and initialise the adapter. Raises ConnectFailed & co."""
        self._set_state(LinkState.CONNECTING)
        self.failures = 0
        self._dirty = False
        self.transport.discard_input()
        await self.transport.open()
        try:
            memory = await asyncio.to_thread(self.store.get, self.dongle)
            await self._init(memory)
        except (CommandTimeout, AdapterError, ProtocolError) as exc:
            await self.transport.close()
            self._set_state(LinkState.LOST)
            raise ConnectFailed(f"{self.transport.description}: adapter init failed: {exc}") from exc
        except OBDError:
            await self.transport.close()
            self._set_state(LinkState.LOST)
            raise
        self._set_state(LinkState.READY)

    async def _init(self, memory: DongleMemory | None) -> None:
        self.warm = bool(memory and memory.protocol)
        self.quirks = {Quirk(q) for q in (memory.quirks if memory else []) if q in Quirk._value2member_map_}
        if self.warm:
            assert memory is not None
            await self.command("ATD", RESET_TIMEOUT_S)
            self.version = memory.version
        else:
            # A bare CR first: it flushes a half-typed command a previous client left.
            await self.transport.write(b"\r")
            try:
                await self.transport.read_reply(0.5)
            except CommandTimeout:
                self.transport.discard_input()
            # ATWS: a warm start resets like ATZ without the ~1 s power-on sequence
            # (a quarter of it); the banner it prints names the adapter all the same.
            lines = reply_lines(await self.command("ATWS", RESET_TIMEOUT_S), "ATWS")
            self.version = next((ln for ln in lines if "ELM" in ln.upper() or "STN" in ln.upper()), "")
        await self._settings()
        await self._find_protocol(memory)
        await self._remember()

    async def _settings(self) -> None:
        # ATE0's own reply still carries the echo (echo was on); the next replies tell.
        await self.command("ATE0")
        for cmd in ("ATL0", "ATS0"):
            raw = await self.command(cmd)
            if cmd in _squash(raw):
                self.quirks.add(Quirk.ECHO_STUCK)
        await self._headers_on()
        with contextlib.suppress(AdapterError):  # adaptive timing: an optimisation some clones lack
            await self.at("ATAT1")

    async def _headers_on(self) -> None:
        # Two tries: a clone that refuses ATH1 refuses twice; line noise rarely hits twice.
        for _ in range(2):
            try:
                if any("OK" in ln.upper() for ln in await self.at("ATH1")):
                    self.quirks.discard(Quirk.NO_HEADERS)
                    return
            except AdapterError:
                pass
        self.quirks.add(Quirk.NO_HEADERS)

    async def _find_protocol(self, memory: DongleMemory | None) -> None:
        cached = memory.protocol if memory else None
        if cached:
            await self.at(f"ATSP{cached}")
            self._set_protocol(cached)
            # One 0100 frame per remembered ECU; without headers they cannot be counted.
            known = memory is not None and bool(memory.supported) and Quirk.NO_HEADERS not in self.quirks
            count = len(memory.supported) if known and memory is not None else None
            try:
                # A legacy bus (ISO 9141/KWP) runs its ~2.5 s slow init on this first request.
                await self._read_supported(memory, count, SEARCH_TIMEOUT_S)
                return
            except (NoData, UnableToConnect, AdapterError, ProtocolError):
                log.info("%s: cached protocol %s did not answer; searching", self.dongle, cached)
        # Automatic search, trying CAN 11/500 (protocol 6, every car sold in the US since
        # 2008 and in the EU since ~2004) first instead of after J1850 and ISO 9141.
        await self.at("ATSPA6")
        self._set_protocol("0")
        await self._read_supported(None, None, SEARCH_TIMEOUT_S)
        dpn = (await self.at("ATDPN"))[0].upper().lstrip("A")
        self._set_protocol(dpn)

    def _set_protocol(self, number: str) -> None:
        self.protocol = number
        headers = Quirk.NO_HEADERS not in self.quirks
        # ATSP0: the framing is only known after the search; CAN 11-bit is the common
        # case and parse_messages on a 0100 answer will tell if it was wrong.
        self.framing = framing_for_protocol(number if number != "0" else "6", headers)

    async def _read_supported(
        self, memory: DongleMemory | None, count: int | None, wait_s: float | None = None
    ) -> None:
        reply: Reply | None = None
        for attempt in range(3):  # line noise may garble the first answers
            try:
                reply = await self.request(0x01, b"\x00", count if attempt == 0 else None, wait_s)
                break
            except ProtocolError:
                if attempt == 2:
                    raise
                if self.protocol == "0":
                    # The search found a non-CAN protocol: parse as legacy after ATDPN.
                    self._set_protocol((await self.at("ATDPN"))[0].upper().lstrip("A"))
                elif Quirk.NO_HEADERS in self.quirks:
                    # Headers came back after all: the ATH1 answer was garbled, not refused.
                    await self._headers_on()
                    self._set_protocol(self.protocol or "0")
        assert reply is not None
        fingerprint = _fingerprint(reply)
        if memory and memory.pids_0100 == fingerprint and memory.supported:
            self.supported = {ecu: set(p) for ecu, p in memory.supported.items()}
            return
        self.supported = {}
        self._merge_bitmap(reply, 0x00)
        base = 0x00
        while base < 0xC0 and any(base + 0x20 in s for s in self.supported.values()):
            base += 0x20
            ecus = sum(1 for s in self.supported.values() if base in s)
            try:
                more = await self.request(0x01, bytes([base]), ecus if self.is_can else None)
            except (NoData, ProtocolError):
                break
            self._merge_bitmap(more, base)
        self._fingerprint = fingerprint

    def _merge_bitmap(self, reply: Reply, base: int) -> None:
        for ecu, msgs in reply.by_ecu.items():
            for m in msgs:
                if len(m) >= 6 and m[1] == base:
                    self.supported.setdefault(ecu, set()).update(supported_from_bitmap(base, m[2:6]))

    async def _remember(self) -> None:
        memory = DongleMemory(
            protocol=self.protocol,
            version=self.version,
            quirks=sorted(q.value for q in self.quirks),
            pids_0100=getattr(self, "_fingerprint", ""),
            supported={ecu: sorted(p) for ecu, p in self.supported.items()},
        )
        if getattr(self, "_fingerprint", ""):
            await asyncio.to_thread(self.store.put, self.dongle, memory)

    # --- lifecycle --------------------------------------------------------------

    async def close(self) -> None:
        await self.transport.close()
        self.state = LinkState.LOST  # closed on purpose: no state-change event

    async def reconnect(
        self, *, attempts: int = 5, first_delay: float = 0.5, max_delay: float = 30.0
    ) -> None:
        """Close and connect again with exponential backoff (0.5, 1, 2, ... s, capped)."""
        delay = first_delay
        last: OBDError | None = None
        for attempt in range(1, attempts + 1):
            await self.transport.close()
            if self._factory is not None:
                self.transport = self._factory()
            try:
                await self.connect()
                return
            except OBDError as exc:
                last = exc
                log.warning("%s: reconnect attempt %d failed: %s", self.dongle, attempt, exc)
            if attempt < attempts:
                await self._sleep(delay)
                delay = min(delay * 2, max_delay)
        raise ConnectFailed(f"{self.dongle}: gave up after {attempts} reconnect attempts: {last}")


def _squash(s: str) -> str:
    return s.replace(" ", "").replace("\r", "").replace("\n", "").upper()


def _fingerprint(reply: Reply) -> str:
    return ";".join(f"{ecu}:{b''.join(m).hex()}" for ecu, m in sorted(reply.by_ecu.items()))
