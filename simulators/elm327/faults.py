"""Fault injection, selectable by name and combinable: `--fault split --fault nodata:5`.

Engine faults (clone quirks) become `Quirks` for the adapter state machine; link faults
reshape each reply's timed chunks per connection (a `Shaper`). A parameter follows a
colon; each fault has a documented default. Random choices come from a seeded RNG so a
failing test replays byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from .adapters import Personality
from .engine import Quirks
from .errors import UnknownFaultError
from .timing import Chunk, Reply

__all__ = ["FAULTS", "Close", "FaultSet", "Shaper", "parse_faults"]

# name -> (default parameter, what it does)
FAULTS: dict[str, tuple[float, str]] = {
    "silent": (0, "adapter accepts bytes and never answers"),
    "drop": (3, "link closed halfway through the Nth OBD reply of each connection (default 3rd)"),
    "split": (7, "replies delivered in random chunks of 1..N bytes (default 7)"),
    "garbage": (0.2, "with probability P per reply, 1-4 random bytes (never '>') inserted"),
    "nodata": (3, "NO DATA bursts: the last N of every 10 OBD requests answer NO DATA"),
    "echo": (0, "ATE0 answers OK but echo stays on"),
    "noprompt": (0, "no '>' after error replies (?, NO DATA, CAN ERROR, ...)"),
    "h1-not-ok": (0, "ATH1 answers '?' and headers stay off"),
    "stall": (5, "every 5th OBD reply (3rd, 8th, ...) pauses S seconds halfway (default 5)"),
    "nocar": (0, "ignition off: SEARCHING... UNABLE TO CONNECT, or the protocol's bus error"),
    "engine-off": (0, "ignition on, engine off: RPM and speed 0"),
    "clear-needs-engine-off": (0, "ECUs refuse Mode 04 (clear DTCs) while the engine runs: 7F 04 22"),
}
STALL_PERIOD = 5
STALL_FIRST = 3
JUNK = [b for b in range(256) if b != 0x3E]  # anything but the '>' prompt


@dataclass(frozen=True)
class Close:
    """Action: the link goes down here."""


Action = Chunk | Close


def parse_faults(specs: Iterable[str]) -> FaultSet:
    chosen: dict[str, float] = {}
    for spec in specs:
        name, _, arg = spec.strip().lower().partition(":")
        if name not in FAULTS:
            raise UnknownFaultError(f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
        try:
            chosen[name] = float(arg) if arg else FAULTS[name][0]
        except ValueError as exc:
            raise UnknownFaultError(f"fault {name}: parameter {arg!r} is not a number") from exc
    return FaultSet(chosen)


@dataclass(frozen=True)
class FaultSet:
    active: dict[str, float]

    def __contains__(self, name: str) -> bool:
        return name in self.active

    def quirks(self, personality: Personality | None = None) -> Quirks:
        """The engine's quirks: these faults on top of the adapter personality's own."""
        p = personality
        return Quirks(
            echo_sticks="echo" in self or bool(p and p.echo_sticks),
            h1_not_ok="h1-not-ok" in self or bool(p and p.h1_refused),
            no_prompt_after_error="noprompt" in self,
            nodata_burst=int(self.active.get("nodata", 0)),
            no_car="nocar" in self,
            engine_off="engine-off" in self,
            refuse_clear_running="clear-needs-engine-off" in self,
            refuses=p.refuses if p else frozenset(),
            crlf=bool(p and p.crlf),
            nul_before_prompt=bool(p and p.nul_before_prompt),
            sti=p.sti if p else "",
            stdi=p.stdi if p else "",
            count_digit=p.count_digit if p else True,
        )

    def shaper(self, seed: int = 0, personality: Personality | None = None) -> Shaper:
        dribble = (personality.dribble_bytes, personality.dribble_ms / 1000) if personality else (0, 0.0)
        return Shaper(self, random.Random(seed), dribble)


class Shaper:
    """Per-connection link faults: turns a reply's chunks into delivery actions."""

    def __init__(self, faults: FaultSet, rng: random.Random, dribble: tuple[int, float] = (0, 0.0)) -> None:
        self.faults = faults
        self.rng = rng
        self.obd_replies = 0
        self.dribble = dribble  # (most bytes per piece, seconds between pieces); 0 = off

    def shape(self, reply: Reply) -> list[Action]:
        f = self.faults.active
        if "silent" in f:
            return []
        chunks = list(reply.chunks)
        if reply.obd:
            self.obd_replies += 1
        k = self.obd_replies
        if "garbage" in f and self.rng.random() < f["garbage"]:
            chunks = self._garbage(chunks)
        if "split" in f:
            chunks = self._split(chunks, max(1, int(f["split"])))
        if self.dribble[0]:
            chunks = self._split(chunks, self.dribble[0], self.dribble[1])
        if reply.obd and "drop" in f and k == int(f["drop"]):
            return [*_halve(chunks)[0], Close()]
        if reply.obd and "stall" in f and k >= STALL_FIRST and (k - STALL_FIRST) % STALL_PERIOD == 0:
            head, tail = _halve(chunks)
            if tail:
                tail[0] = Chunk(tail[0].delay_s + f["stall"], tail[0].data)
            return [*head, *tail]
        return list(chunks)

    def _garbage(self, chunks: list[Chunk]) -> list[Chunk]:
        junk = bytes(self.rng.choice(JUNK) for _ in range(self.rng.randint(1, 4)))
        # Insert into a data chunk before the prompt so the reply stays framed by '>'.
        candidates = [i for i, c in enumerate(chunks) if c.data]
        if not candidates:
            return chunks
        i = self.rng.choice(candidates)
        data = chunks[i].data
        end = data.rfind(b">")
        pos = self.rng.randint(0, end if end >= 0 else len(data))
        data = data[:pos] + junk + data[pos:]
        return [*chunks[:i], Chunk(chunks[i].delay_s, data), *chunks[i + 1 :]]

    def _split(self, chunks: list[Chunk], most: int, gap_s: float = 0.0) -> list[Chunk]:
        """Random pieces of 1..most bytes, each after `gap_s` (a BLE dribble) but the first."""
        out: list[Chunk] = []
        for chunk in chunks:
            data, delay = chunk.data, chunk.delay_s
            while data:
                n = self.rng.randint(1, most)
                out.append(Chunk(delay, data[:n]))
                data, delay = data[n:], gap_s
        return out


def _halve(chunks: list[Chunk]) -> tuple[list[Chunk], list[Chunk]]:
    """Cut a reply in the middle of its bytes, keeping delays in place."""
    total = sum(len(c.data) for c in chunks)
    cut = total // 2
    head: list[Chunk] = []
    tail: list[Chunk] = []
    seen = 0
    for c in chunks:
        if seen + len(c.data) <= cut:
            head.append(c)
        elif seen >= cut:
            tail.append(c)
        else:
            at = cut - seen
            head.append(Chunk(c.delay_s, c.data[:at]))
            tail.append(Chunk(0.0, c.data[at:]))
        seen += len(c.data)
    return head, tail
