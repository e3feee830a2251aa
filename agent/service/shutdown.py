"""A bounded shutdown: once the agent starts stopping (a signal, or a task failed),
it is gone within `bound_s`, whatever is stuck.

Why: asyncio.run() ends by joining the default executor's threads, and a thread
blocked in a read (a camera, a serial port, a TCP connect to a black hole) never
returns; cancellation cannot reach it. Measured on the issue's poison-ack restarts: 2
of 8 hung in shutdown, and SIGTERM did nothing because the signal handler only
cancelled the main task, which was already done. So:

- the first SIGTERM/SIGINT cancels the main task and starts the deadline;
- a task failing starts it too (the TaskGroup then cancels the rest);
- a second signal during shutdown exits at once;
- when the deadline passes, a daemon thread logs one line and `os._exit(1)`s.

systemd's own stop timeout (TimeoutStopSec, 90 s by default) is the outer bound; this
one keeps a restart after a failure within seconds and the Last Will honest.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import threading
from collections.abc import Callable

from agent.service.sdnotify import notify

__all__ = ["SHUTDOWN_BOUND_S", "ShutdownDeadline"]

log = logging.getLogger("baygate.shutdown")

# A clean stop takes well under a second (DISCONNECT with Will, outbox close: one
# fsync), but asyncio.run also waits for worker threads to finish what they started
# (an OCR pass on a frame takes seconds on a Pi). Measured: one SIGTERM stop of the
# full agent took over 10 s on the 2-core test machine at load average ~11 (cause
# not pinned down; the stacks are now dumped when the bound passes). 30 s: the
# watchdog's period, a third of systemd's default stop timeout (90 s).
SHUTDOWN_BOUND_S = 30.0


def _hard_exit(code: int) -> None:
    for h in logging.getLogger().handlers:
        h.flush()
    os._exit(code)


class ShutdownDeadline:
    def __init__(
        self, bound_s: float = SHUTDOWN_BOUND_S, exit_fn: Callable[[int], None] = _hard_exit
    ) -> None:
        self.bound_s = bound_s
        self.reason: str | None = None
        self._exit = exit_fn
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self.reason is not None

    def start(self, reason: str) -> bool:
        """Start the clock (once); False if it was already running."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason = reason
            self._timer = threading.Timer(self.bound_s, self._expired)
            self._timer.daemon = True
            self._timer.start()
        log.info("shutting down (%s): at most %.0fs", reason, self.bound_s)
        notify("STOPPING=1")
        return True

    def again(self, what: str) -> None:
        """A second signal while stopping: the operator means it."""
        log.error("%s during shutdown (%s): exiting now", what, self.reason)
        self._exit(1)

    def cancel(self) -> None:
        """Shutdown finished in time."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _expired(self) -> None:
        log.error("shutdown (%s) did not finish within %.0fs: exiting now", self.reason, self.bound_s)
        # What was stuck, for the journal: every thread's stack (a blocked read shows).
        with contextlib.suppress(Exception):
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        self._exit(1)
