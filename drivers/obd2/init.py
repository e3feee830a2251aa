"""Adapter init: the steps `Session.connect` runs once the transport is open.

Cold (a dongle never seen): a bare CR, `ATWS` (else `ATZ`), `STI` (STN chips), then
`ATE0 ATL0 ATS0 ATH1 ATAT1` (else a fixed `ATST`), `ATSP A6` (else `ATSP 0`), `0100`,
`ATDPN` (else `ATDP`). Warm (seen before, store.py): `ATD` instead of the reset, no
STI, the cached protocol and the count digit on the first `0100`: about 8 round trips.
Every optional command that the adapter refuses (adapter.py) is skipped with its
fallback and remembered, so it costs a round trip on the first connect only. `step`
names where init is, for the error message when an essential step fails.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from drivers.obd2.adapter import FALLBACK, AdapterInfo, Quirk, accepted, identify
from drivers.obd2.elm327 import reply_lines
from drivers.obd2.errors import (
    AdapterError,
    CommandTimeout,
    NoData,
    ProtocolError,
    UnableToConnect,
    UnknownCommand,
)
from drivers.obd2.frames import PROTOCOL_NAMES, guess_protocol
from drivers.obd2.pids import supported_from_bitmap
from drivers.obd2.reply import Reply
from drivers.obd2.store import DongleMemory

if TYPE_CHECKING:
    from drivers.obd2.session import Session

__all__ = ["RESET_TIMEOUT_S", "SEARCH_TIMEOUT_S", "Init"]

log = logging.getLogger("drivers.obd2.session")

# ATZ/ATWS: up to about 1 s on real adapters; allow slow clones 3x.
RESET_TIMEOUT_S = 3.0
# ATSP0 + 0100 searches protocols one after another: up to ~6 s on a non-CAN car.
SEARCH_TIMEOUT_S = 10.0


class Init:
    """One connect's init of `session`'s adapter; what it learns lands on the session."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.step = "open"
        self.echo_off = False  # ATE0 sent: an echo after it is the ECHO_STUCK quirk
        self.fingerprint = ""

    async def run(self, memory: DongleMemory | None) -> None:
        s = self.s
        s.warm = bool(memory and memory.protocol)
        s.quirks = {Quirk(q) for q in (memory.quirks if memory else []) if q in Quirk._value2member_map_}
        s.refused = set(memory.refused) if memory else set()
        self.echo_off = False
        if s.warm and memory is not None and await self._optional("ATD", RESET_TIMEOUT_S) is not None:
            # ATD restores the defaults (echo on, headers off) without a reset: instant.
            s.version = memory.version
            s.adapter = AdapterInfo(memory.adapter or "unknown", memory.version)
        else:
            # A bare CR first: it flushes a half-typed command a previous client left.
            await s.transport.write(b"\r")
            try:
                await s.transport.read_reply(0.5)
            except CommandTimeout:
                s.transport.discard_input()
            await self._reset()
            # STN chips (OBDLink) answer STI; an ELM327 or clone says '?', once per dongle.
            sti = await self._optional("STI")
            s.adapter = identify(s.version, " ".join(sti or []), s.refused)
            if not s.adapter.count_digit:  # a genuine ELM327 before v1.3: not one '?' wasted
                s.quirks.add(Quirk.NO_COUNT_DIGIT)
        await self._settings()
        await self._find_protocol(memory)
        if not s.warm:
            s.adapter = identify(s.version, s.adapter.chip, s.refused)
        await self._remember()

    async def _reset(self) -> None:
        s = self.s
        # ATWS: a warm start resets like ATZ without the ~1 s power-on sequence (a
        # quarter of it); the banner it prints names the adapter all the same.
        self.step = "reset (ATWS)"
        lines = await self._optional("ATWS", RESET_TIMEOUT_S)
        if lines is None:
            self.step = "reset (ATZ)"
            lines = await s.at("ATZ", RESET_TIMEOUT_S)
        s.version = next((ln for ln in lines if accepted("ATZ", [ln])), "")

    async def _optional(self, cmd: str, wait_s: float | None = None) -> list[str] | None:
        """An optional command's reply lines, or None when the adapter refuses it.

        `?` (or no answer) is a refusal at once; garbage (no `OK`, no banner) is asked
        once more, as line noise rarely hits twice. A refusal is remembered for this dongle, so after
        the first connect it costs no round trip at all: the fallback goes first.
        """
        s = self.s
        if cmd in s.refused:
            return None
        for _ in range(2):
            try:
                raw = await s.command(cmd, wait_s)
                if self.echo_off and _squash(raw).startswith(cmd):
                    s.quirks.add(Quirk.ECHO_STUCK)  # ATE0 said OK, yet the echo stayed
                lines = reply_lines(raw, cmd)
            except (UnknownCommand, CommandTimeout):
                # '?' is a refusal; silence too, asked once only: a dead adapter then
                # fails on the essential fallback (ATZ) within one more deadline.
                break
            except (AdapterError, ProtocolError):
                continue
            if accepted(cmd, lines):
                return lines
        s.refused.add(cmd)
        log.info("%s: adapter refused %s; using %s", s.dongle, cmd, FALLBACK.get(cmd) or "nothing")
        return None

    async def _settings(self) -> None:
        self.step = "settings"
        # ATE0's own reply still carries the echo (echo was on); the next replies tell.
        await self._optional("ATE0")
        self.echo_off = True
        await self._optional("ATL0")  # refused: CR LF is split like CR
        await self._optional("ATS0")  # refused: frames parse with spaces too
        await self._headers_on()
        # Adaptive timing shortens the wait after the last frame; without it a fixed ATST.
        if await self._optional("ATAT1") is None:
            await self._optional("ATST19")

    async def _headers_on(self, again: bool = False) -> None:
        s = self.s
        if again:  # headers turned up after all: the refusal was line noise
            s.refused.discard("ATH1")
        if await self._optional("ATH1") is not None:
            s.quirks.discard(Quirk.NO_HEADERS)
        else:
            s.quirks.add(Quirk.NO_HEADERS)

    async def _find_protocol(self, memory: DongleMemory | None) -> None:
        s = self.s
        cached = memory.protocol if memory else None
        if cached:
            self.step = f"protocol (ATSP{cached})"
            try:
                await s.at(f"ATSP{cached}")
                s.set_protocol(cached)
                # One 0100 frame per remembered ECU; without headers they cannot be
                # counted unless one ECU answers alone.
                count = None
                if memory is not None and memory.supported:
                    many = len(memory.supported) if Quirk.NO_HEADERS not in s.quirks else memory.responders
                    count = many or None
                # A legacy bus (ISO 9141/KWP) runs its ~2.5 s slow init on this first request.
                self.step = "reach the car (0100)"
                await self._read_supported(memory, count, SEARCH_TIMEOUT_S)
                return
            except (NoData, UnableToConnect, AdapterError, ProtocolError):
                log.info("%s: cached protocol %s did not answer; searching", s.dongle, cached)
        # Automatic search, trying CAN 11/500 (protocol 6, every car sold in the US since
        # 2008 and in the EU since ~2004) first instead of after J1850 and ISO 9141.
        self.step = "protocol search (ATSP A6)"
        if await self._optional("ATSPA6") is None:
            self.step = "protocol search (ATSP0)"
            await s.at("ATSP0")
        s.set_protocol("0")
        self.step = "reach the car (0100)"
        await self._read_supported(None, None, SEARCH_TIMEOUT_S)
        s.set_protocol(await self._which_protocol())

    async def _which_protocol(self) -> str:
        """The protocol the search found: ATDPN, else ATDP's name, else a guess from the
        frames of the last reply (headers on), else still "0"."""
        s = self.s
        if (dpn := await self._optional("ATDPN")) is not None:
            return dpn[0].strip().upper().lstrip("A")
        if (dp := await self._optional("ATDP")) is not None:
            name = " ".join(dp).upper().replace("AUTO,", "").strip()
            number = next((n for n, full in PROTOCOL_NAMES.items() if full.upper() == name), None)
            if number:
                return number
        try:
            lines = reply_lines(s.last_reply)
        except (AdapterError, ProtocolError):
            lines = []
        return guess_protocol(lines) or s.protocol or "0"

    async def _read_supported(
        self, memory: DongleMemory | None, count: int | None, wait_s: float | None = None
    ) -> None:
        s = self.s
        reply: Reply | None = None
        tries = 5  # line noise may garble the first answers; it is not an unreachable car
        for attempt in range(tries):
            try:
                reply = await s.request(0x01, b"\x00", count if attempt == 0 else None, wait_s)
                break
            except ProtocolError:
                if attempt == tries - 1:
                    raise
                if s.protocol == "0":
                    # The search found a non-CAN protocol: parse as legacy after ATDPN.
                    s.set_protocol(await self._which_protocol())
                elif Quirk.NO_HEADERS in s.quirks:
                    # Headers came back after all: the ATH1 answer was garbled, not refused.
                    await self._headers_on(again=True)
                    s.set_protocol(s.protocol or "0")
        assert reply is not None
        fingerprint = _fingerprint(reply)
        if memory and memory.pids_0100 == fingerprint and memory.supported:
            s.supported = {ecu: set(p) for ecu, p in memory.supported.items()}
            s.responders = memory.responders
            self.fingerprint = fingerprint
            return
        s.supported = {}
        self._merge_bitmap(reply, 0x00)
        base = 0x00
        while base < 0xC0 and any(base + 0x20 in s for s in s.supported.values()):
            base += 0x20
            ecus = sum(1 for s in s.supported.values() if base in s)
            try:
                more = await s.request(0x01, bytes([base]), ecus if s.is_can else None)
            except (NoData, ProtocolError):
                break
            self._merge_bitmap(more, base)
        self.fingerprint = fingerprint
        # How many ECUs answered 0100: without headers, the count digit is safe only
        # when one ECU answers alone (several could not be told apart or counted).
        s.responders = sum(len(m) for m in reply.by_ecu.values())

    def _merge_bitmap(self, reply: Reply, base: int) -> None:
        s = self.s
        for ecu, msgs in reply.by_ecu.items():
            for m in msgs:
                if len(m) >= 6 and m[1] == base:
                    s.supported.setdefault(ecu, set()).update(supported_from_bitmap(base, m[2:6]))

    async def _remember(self) -> None:
        s = self.s
        memory = DongleMemory(
            protocol=s.protocol,
            version=s.version,
            quirks=sorted(q.value for q in s.quirks),
            pids_0100=self.fingerprint,
            supported={ecu: sorted(p) for ecu, p in s.supported.items()},
            refused=sorted(s.refused),
            adapter=s.adapter.kind,
            responders=s.responders,
        )
        if self.fingerprint:
            await asyncio.to_thread(s.store.put, s.dongle, memory)

    # --- lifecycle --------------------------------------------------------------


def _squash(s: str) -> str:
    return s.replace(" ", "").replace("\r", "").replace("\n", "").upper()


def _fingerprint(reply: Reply) -> str:
    return ";".join(f"{ecu}:{b''.join(m).hex()}" for ecu, m in sorted(reply.by_ecu.items()))
