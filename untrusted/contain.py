"""Containing a refused message: count it, log it once per burst, carry on.

A flood of bad messages must neither stop the loop nor fill the journal (issue 10:
poison on the ingest's reply topic logged 3 MB/s). The first refusal of a burst is
logged at once; later ones within `window_s` are only counted, and the next line says
how many were suppressed. Sans-IO: the clock is injected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Rejections"]


class Rejections:
    """Refusal counter by reason plus a burst-limited log line."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._window = window_s
        self._clock = clock
        self.counts: dict[str, int] = {}
        self._last_logged: float | None = None
        self._suppressed = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def refuse(self, reason: str, detail: object) -> None:
        """Count one refused message under `reason`; log it unless a line went out
        less than window_s ago."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = self._clock()
        if self._last_logged is not None and now - self._last_logged < self._window:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more refused since the last line)" if self._suppressed else ""
        self._log.warning("refused %s: %s%s", reason, str(detail)[:300], more)
        self._last_logged, self._suppressed = now, 0
