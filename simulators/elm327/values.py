"""Live value generators: a profile's PID value as a pure function of simulated time.

Pure functions of `t` (seconds since the adapter started) so a test with an injected
clock gets the same value every run; "noise" is a hash of the time step, not a RNG.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

from .errors import ProfileError

__all__ = ["Generator", "parse_generator"]


@dataclass(frozen=True)
class Generator:
    """const | sine (min..max over period_s) | ramp (sawtooth from..to) | noise (value +- jitter)."""

    kind: str
    a: float
    b: float = 0.0
    period_s: float = 60.0

    def value(self, t: float) -> float:
        if self.kind == "const":
            return self.a
        if self.kind == "sine":
            mid, amp = (self.a + self.b) / 2, (self.b - self.a) / 2
            return mid + amp * math.sin(2 * math.pi * t / self.period_s)
        if self.kind == "ramp":
            frac = (t % self.period_s) / self.period_s
            return self.a + (self.b - self.a) * frac
        # noise: a deterministic +-b jitter that changes every 100 ms
        step = int(t * 10)
        unit = zlib.crc32(step.to_bytes(8, "big", signed=True)) / 0xFFFFFFFF
        return self.a + self.b * (2 * unit - 1)


def parse_generator(spec: Any, where: str) -> Generator:
    """A number is a constant; an object names its kind and parameters."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Generator("const", float(spec))
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: a value is a number or an object, got {spec!r}")
    kind = spec.get("kind", "const")
    try:
        if kind == "const":
            return Generator("const", float(spec["value"]))
        if kind == "sine":
            return Generator("sine", float(spec["min"]), float(spec["max"]), float(spec.get("period_s", 30)))
        if kind == "ramp":
            return Generator("ramp", float(spec["from"]), float(spec["to"]), float(spec.get("period_s", 600)))
        if kind == "noise":
            return Generator("noise", float(spec["value"]), float(spec.get("jitter", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: bad {kind} generator {spec!r}: {exc}") from exc
    raise ProfileError(f"{where}: unknown generator kind {kind!r}")
