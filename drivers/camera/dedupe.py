"""One report per presentation: the same (camera, symbology, payload) seen again within
the window is the same presentation, whatever the frame rate. A code that left view for
longer than the window and came back is a new presentation. The clock is injected."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Deduper"]

_MAX_KEYS = 10_000  # bounded memory whatever a camera sees


class Deduper:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._last_seen: dict[tuple[str, str, str], float] = {}

    def first_sighting(self, camera: str, symbology: str, payload: str) -> bool:
        """True when this sighting starts a new presentation (report it); each sighting
        extends the presentation, so a code held in view is reported once."""
        new = self.is_new(camera, symbology, payload)
        if new:
            self.seen(camera, symbology, payload)
        return new

    def is_new(self, camera: str, symbology: str, payload: str) -> bool:
        """True when this sighting would start a new presentation; it is not counted
        until `seen` says its report was taken, so a report the sink refused is tried
        again at the next sighting. A sighting of a presentation already reported
        extends it here."""
        now = self._clock()
        key = (camera, symbology, payload)
        last = self._last_seen.get(key)
        if last is None or now - last > self.window_s:
            return True
        self._last_seen[key] = now
        return False

    def seen(self, camera: str, symbology: str, payload: str) -> None:
        """The new presentation's report was taken: later sightings extend it."""
        now = self._clock()
        self._last_seen[(camera, symbology, payload)] = now
        if len(self._last_seen) > _MAX_KEYS:
            self._expire(now)

    def _expire(self, now: float) -> None:
        for k, t in list(self._last_seen.items()):
            if now - t > self.window_s:
                del self._last_seen[k]
        while len(self._last_seen) > _MAX_KEYS:
            self._last_seen.pop(next(iter(self._last_seen)))
