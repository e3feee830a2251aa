"""The ELM327 adapter state machine, sans-IO: command bytes in, timed reply chunks out.

`Elm327.feed(data)` accepts whatever bytes arrived (partial lines, several commands)
and returns one `Reply` per completed command line. Nothing here sleeps or touches a
socket; transports play the chunks with their delays (see timing.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .at import AtCommands
from .framing import Display, can_frames, render_can, render_legacy
from .profile import Profile
from .timing import ST_DEFAULT, ST_UNIT_S, Chunk, Reply, Timing
from .vehicle import Message, Vehicle

__all__ = ["DEFAULT_VERSION", "Elm327", "Quirks", "Settings"]

PROMPT = b">"
# What ATI answers; most cheap clones say v1.5 (some v2.1), whatever their real firmware.
DEFAULT_VERSION = "ELM327 v1.5"
MAX_LINE = 128  # the ELM327's input buffer; longer lines are rejected with "?"
MAX_REQUEST_BYTES = 7  # one CAN single frame / one ISO 9141 message of data
ERROR_WORDS = ("?", "NO DATA", "CAN ERROR", "BUS INIT: ...ERROR", "UNABLE TO CONNECT")
CAN_PROTOCOLS = (6, 7, 8, 9, 0xA, 0xB, 0xC)
ISO_PROTOCOLS = (3, 4, 5)
NODATA_PERIOD = 10  # the nodata fault: the last N of every 10 OBD requests answer NO DATA
Group = tuple[float, list[str]]  # (delay before, lines)


@dataclass(frozen=True)
class Quirks:
    """Clone misbehaviour the engine itself produces (transport faults live in faults.py)."""

    echo_sticks: bool = False  # ATE0 answers OK but echo stays on
    h1_not_ok: bool = False  # ATH1 answers "?" and headers stay off
    no_prompt_after_error: bool = False  # "?", NO DATA, ... end without ">"
    nodata_burst: int = 0  # N > 0: requests 10-N+1..10 of every 10 answer NO DATA
    no_car: bool = False  # ignition off: no ECU on any bus
    engine_off: bool = False  # ignition on, engine off: RPM and speed 0
    refuse_clear_running: bool = False  # Mode 04 while the engine runs: 7F 04 22
    # Adapter personality (adapters.py): what this chip refuses and how it prints.
    refuses: frozenset[str] = frozenset()  # AT commands (no "AT") answered "?"; "X*" = prefix
    crlf: bool = False  # lines end CR LF whatever ATL0 says
    nul_before_prompt: bool = False
    sti: str = ""  # an STN chip's STI answer; "" = an ELM clone (ST commands: "?")
    stdi: str = ""
    count_digit: bool = True  # False: an odd-length request (`010C1`) is not hex: "?"

    def refused(self, command: str) -> bool:
        return any(command == r or (r.endswith("*") and command.startswith(r[:-1])) for r in self.refuses)


@dataclass
class Settings:
    """Everything ATZ / ATD restores."""

    echo: bool = True
    linefeeds: bool = False
    spaces: bool = True
    headers: bool = False
    caf: bool = True
    st: int = ST_DEFAULT
    adaptive: int = 1
    header: int | None = None  # ATSH; None = functional broadcast (7DF)


@dataclass
class Bus:
    """Protocol selection: saved survives ATZ (ATSP writes it to EEPROM), ATTP does not."""

    saved: int = 0
    saved_auto: bool = True
    protocol: int = 0
    auto: bool = True
    connected: bool = False
    fallback: int = field(default=0)


class Elm327:
    """One adapter plugged into one car. Create one per connection."""

    def __init__(
        self,
        profile: Profile,
        timing: Timing | None = None,
        quirks: Quirks | None = None,
        clock: Callable[[], float] = time.monotonic,
        version: str = DEFAULT_VERSION,
        *,
        started: float | None = None,
    ) -> None:
        """`started`: when the car's clock began (live values are functions of
        clock() - started); default now. Pass the same value to every adapter of one car."""
        q = quirks or Quirks()
        self.vehicle = Vehicle(
            profile, engine_running=not q.engine_off, refuse_clear_running=q.refuse_clear_running
        )
        self.profile = profile
        self.timing = timing or Timing()
        self.quirks = quirks or Quirks()
        self.clock = clock
        self.version = version
        self.settings = Settings()
        self.bus = Bus()
        self.started = clock() if started is None else started
        self.obd_requests = 0
        self._buffer = bytearray()
        self._last = ""
        self._at = AtCommands(self)

    # ---- input -------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Reply]:
        """Buffer bytes; every CR completes a command. LF, NUL and spaces are ignored."""
        replies = []
        for byte in data:
            if byte == 0x0D:
                raw = self._buffer.decode("latin-1")  # byte-exact echo, whatever arrived
                self._buffer.clear()
                replies.append(self.command(raw))
            elif byte not in (0x0A, 0x00) and len(self._buffer) <= MAX_LINE:
                self._buffer.append(byte)
        return replies

    def command(self, raw: str) -> Reply:
        """Answer one command line (without its CR)."""
        echo = raw + "\r" if self.settings.echo else ""
        cmd = "".join(raw.split()).upper()
        if not cmd:
            # A bare CR repeats the last command (handy for polling one PID).
            cmd = self._last
        if not cmd or len(cmd) > MAX_LINE:
            return self._reply(cmd, echo, [(0.0, ["?"])])
        self._last = cmd
        if cmd.startswith("AT"):
            if self.quirks.refused(cmd[2:]):
                return self._reply(cmd, echo, [(0.0, ["?"])])
            return self._reply(cmd, echo, self._at.run(cmd[2:]))
        if cmd.startswith("ST"):
            return self._reply(cmd, echo, [(0.0, [self._stn(cmd)])])
        return self._reply(cmd, echo, self._obd(cmd), obd=True)

    def _stn(self, cmd: str) -> str:
        """The STN extensions we model: identification only. An ELM clone says "?"."""
        if cmd == "STI" and self.quirks.sti:
            return self.quirks.sti
        if cmd == "STDI" and self.quirks.stdi:
            return self.quirks.stdi
        return "?"

    # ---- output -------------------------------------------------------------------------

    @property
    def eol(self) -> str:
        return "\r\n" if self.settings.linefeeds or self.quirks.crlf else "\r"

    @property
    def st_s(self) -> float:
        return self.settings.st * ST_UNIT_S * self.timing.st_scale

    def _reply(self, cmd: str, echo: str, groups: list[Group], obd: bool = False) -> Reply:
        """groups: (delay before, lines); the last group's delay is before the prompt."""
        rtt = self.timing.rtt_ms / 1000
        chunks = [Chunk(rtt, echo.encode("latin-1"))] if echo else []
        lines: list[str] = []
        for i, (delay, group) in enumerate(groups):
            text = "".join(line + self.eol for line in group)
            if i == len(groups) - 1:
                text += self.eol
            lines += group
            chunks.append(Chunk(delay + (0.0 if echo or i else rtt), text.encode()))
        error = any(line in ERROR_WORDS for line in lines)
        if not (error and self.quirks.no_prompt_after_error):
            chunks.append(Chunk(0.0, (b"\x00" if self.quirks.nul_before_prompt else b"") + PROMPT))
        return Reply(cmd, _coalesce(chunks), obd=obd, error=error)

    # ---- OBD requests -------------------------------------------------------------------

    def _obd(self, cmd: str) -> list[Group]:
        count = None
        if len(cmd) % 2:
            if not self.quirks.count_digit:
                return [(0.0, ["?"])]
            cmd, digit = cmd[:-1], cmd[-1]
            count = int(digit, 16) if digit in "123456789ABCDEF" else None
            if count is None:
                return [(0.0, ["?"])]
        try:
            request = bytes.fromhex(cmd)
        except ValueError:
            return [(0.0, ["?"])]
        if not request or len(request) > MAX_REQUEST_BYTES:
            return [(0.0, ["?"])]
        self.obd_requests += 1
        before, wait, failure = self._connect()
        if failure:
            return [*before, (wait, [failure])]
        n = self.quirks.nodata_burst
        if n and (self.obd_requests - 1) % NODATA_PERIOD >= NODATA_PERIOD - n:
            return [*before, (wait + self.st_s, ["NO DATA"])]
        return self._answer(request, count, before, wait)

    def _connect(self) -> tuple[list[Group], float, str]:
        """Reaching the car's bus: (status line groups, further wait, failure word)."""
        bus, car = self.bus, self.profile.protocol
        if bus.connected:
            return [], 0.0, ""
        t = self.timing
        if self.quirks.no_car:
            # Ignition off / no car: every protocol is tried and none answers.
            if bus.auto:
                return [(0.0, ["SEARCHING..."])], 9 * t.search_ms / 1000, "UNABLE TO CONNECT"
            word = "CAN ERROR" if bus.protocol in CAN_PROTOCOLS else "NO DATA"
            if bus.protocol in ISO_PROTOCOLS:
                word = "BUS INIT: ...ERROR"
            return [], self._init_s(bus.protocol) if bus.protocol in ISO_PROTOCOLS else self.st_s, word
        if bus.auto and bus.protocol == car:
            # ATSP Ah: the remembered protocol is tried first and answers: no search.
            bus.connected = True
            init = [(self._init_s(car), ["BUS INIT: ...OK"])] if car in ISO_PROTOCOLS else []
            return init, 0.0, ""
        if bus.auto:
            # SP0 prints SEARCHING... at once, then tries protocols 1, 2, 3 ... in order.
            tried = car - 1
            wait = tried * t.search_ms / 1000 + (self._init_s(car) if car in ISO_PROTOCOLS else 0.0)
            bus.protocol, bus.connected = car, True
            return [(0.0, ["SEARCHING..."])], wait, ""
        if bus.protocol != car:
            if bus.protocol in CAN_PROTOCOLS:
                return [], self.st_s, "CAN ERROR"
            if bus.protocol in ISO_PROTOCOLS:
                return [], self._init_s(bus.protocol), "BUS INIT: ...ERROR"
            return [], self.st_s, "NO DATA"
        bus.connected = True
        if car in ISO_PROTOCOLS:
            return [(self._init_s(car), ["BUS INIT: ...OK"])], 0.0, ""
        return [], 0.0, ""

    def _init_s(self, protocol: int) -> float:
        """Legacy bus wake-up: 5-baud init (ISO 9141-2, KWP 5 baud) or KWP fast init."""
        return (self.timing.fast_init_ms if protocol == 5 else self.timing.bus_init_ms) / 1000

    def _answer(self, request: bytes, count: int | None, before: list[Group], wait: float) -> list[Group]:
        target = None
        header = self.settings.header
        if header is not None and 0x7E0 <= header <= 0x7E7 and self.vehicle.can:
            target = header + 8
        messages = self.vehicle.respond(request, self.clock() - self.started, target)
        groups = list(before)
        if not messages:
            return [*groups, (wait + self.st_s, ["NO DATA"])]
        display = Display(self.settings.headers, self.settings.spaces, self.settings.caf)
        frame_s = self.timing.frame_ms / 1000
        # The count digit counts received frames ("lines of data" in the datasheet: a
        # CAN VIN is 3, a legacy VIN 5). The adapter stops listening once that many
        # frames arrived, even in the middle of a multi-frame message.
        left = count
        last_end = 0.0
        for done, msg in self._schedule(messages, wait):
            lines, frames, lead = self._render(msg.ecu.can_id, msg.ecu.iso_address, msg.data, display)
            end = done
            if left is not None and frames >= left:
                end = done - frame_s * (frames - left)
                lines, frames = lines[: lead + left], left
            groups.append((end - last_end, lines))
            last_end = end
            if left is not None:
                left -= frames
                if left <= 0:
                    break
        # Without the count digit (or with more expected than came) the adapter waits
        # out ATST after the last frame in case another ECU answers.
        satisfied = left is not None and left <= 0
        groups.append((0.0 if satisfied else self.st_s, []))
        return groups

    def _schedule(self, messages: list[Message], wait: float) -> list[tuple[float, Message]]:
        """When each message is complete on the bus: (end time, message), in bus order.

        Each ECU is ready after ecu_ms + its own latency_ms; the bus carries one message
        at a time (frame_ms between CAN frames, the P2 gap between legacy messages), so
        a slow engine ECU can be overtaken by a quick gearbox.
        """
        frame_s = self.timing.frame_ms / 1000
        between = frame_s if self.vehicle.can else self.timing.iso_gap_ms / 1000
        queues: dict[int, list[Message]] = {}
        for msg in messages:
            queues.setdefault(id(msg.ecu), []).append(msg)
        order = list(queues)
        ready = {k: wait + (self.timing.ecu_ms + q[0].ecu.latency_ms) / 1000 for k, q in queues.items()}
        out: list[tuple[float, Message]] = []
        last_end: float | None = None
        while queues:
            key = min(queues, key=lambda k: (ready[k], order.index(k)))
            msg = queues[key].pop(0)
            frames = len(can_frames(msg.data, self.profile.can_padding)) if self.vehicle.can else 1
            start = ready[key] if last_end is None else max(ready[key], last_end + between)
            last_end = start + frame_s * (frames - 1)
            out.append((last_end, msg))
            ready[key] = last_end + between
            if not queues[key]:
                del queues[key]
        return out

    def _render(self, can_id: int, address: int, data: bytes, display: Display) -> tuple[list[str], int, int]:
        """(lines, frames on the bus, lines before the first frame's line)."""
        if not self.vehicle.can:
            return render_legacy(self.profile.protocol, address, data, display), 1, 0
        frames = len(can_frames(data, self.profile.can_padding))
        lead = 1 if frames > 1 and display.caf and not display.headers else 0  # the "014" length line
        return render_can(can_id, data, display, self.profile.can_padding), frames, lead

    # ---- used by the AT command set ----------------------------------------------------

    def reset(self) -> None:
        self.settings = Settings()
        self.bus.protocol, self.bus.auto = self.bus.saved, self.bus.saved_auto
        self.bus.connected = False
        self._last = ""


def _coalesce(chunks: list[Chunk]) -> tuple[Chunk, ...]:
    """Join chunks that follow without delay: one write, as the adapter's UART burst."""
    out: list[Chunk] = []
    for c in chunks:
        if out and c.delay_s == 0:
            out[-1] = Chunk(out[-1].delay_s, out[-1].data + c.data)
        elif c.data or c.delay_s:
            out.append(c)
    return tuple(out)
