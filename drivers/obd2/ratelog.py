"""Repeated identical warnings, said once per window with a count.

A dongle that connects and drops in a loop used to write one "link lost" line per
attempt (issue 12: 3,982 lines, 1.1 MB of log in 19 s). The first occurrence of a
message is logged at once; identical ones within `window_s` are counted, and the
next one after the window is logged with "(N more like this in the last X s)".
The clock is injected so tests need not sleep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    def __init__(
        self, logger: logging.Logger, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self.window_s = window_s
        self._clock = clock
        # message text -> (when last logged, suppressed since)
        self._seen: dict[str, tuple[float, int]] = {}

    def warning(self, msg: str, *args: object) -> bool:
        """Log `msg % args` at WARNING unless an identical line went out within the
        window; returns whether it was logged."""
        return self.log(logging.WARNING, msg, *args)

    def log(self, level: int, msg: str, *args: object) -> bool:
        text = msg % args if args else msg
        now = self._clock()
        last = self._seen.get(text)
        if last is not None and now - last[0] < self.window_s:
            self._seen[text] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            self._log.log(level, "%s (%d more like this in the last %.0f s)", text, last[1], now - last[0])
        else:
            self._log.log(level, "%s", text)
        self._seen[text] = (now, 0)
        if len(self._seen) > 256:  # messages carry details; keep the table small
            oldest = min(self._seen, key=lambda k: self._seen[k][0])
            del self._seen[oldest]
        return True
