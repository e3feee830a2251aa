"""Logging: readable lines on a terminal, one JSON object per line otherwise.

journald stores each line as one entry; JSON lets fleet tooling filter by field.
Every line goes through `sync.redact`: a URL with a password in it (a PostgreSQL
URL in an error, an MQTT URL in a banner) is shown with `***` instead.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from sync.redact import redact

__all__ = ["BurstFilter", "JsonFormatter", "RedactFilter", "setup_logging"]

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactFilter(logging.Filter):
    """Credentials out of the message (rendered once here, args dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra=` fields are kept as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class BurstFilter(logging.Filter):
    """Repeated identical warnings are rate-limited with a count.

    A record is identified by (logger, level, message template). The first of a burst
    passes; identical ones within `window_s` are counted and dropped; the next one
    after the window passes with `(repeated N times in the last T s)` appended.
    Records below WARNING pass untouched (DEBUG is for when you asked for volume).
    Why: a dongle flapping at 100 Hz wrote 1.1 MB of "link lost" in 19 s (issue 12);
    journald rate-limits by dropping everything, including the one line that matters.
    """

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (since, suppressed)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        since, suppressed = self._seen.get(key, (None, 0))
        if since is not None and now - since < self.window_s:
            self._seen[key] = (since, suppressed + 1)
            return False
        if len(self._seen) > 1024:  # bounded: forget old bursts, never grow without end
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window_s}
        self._seen[key] = (now, 0)
        if suppressed and since is not None:
            record.msg = f"{record.msg} (repeated {suppressed} times in the last {now - since:.0f} s)"
        return True


def setup_logging(level: str = "INFO", stream: TextIO | None = None, json_lines: bool | None = None) -> None:
    """Configure the root logger once. `json_lines=None` picks by whether `stream` is a TTY."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.addFilter(BurstFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
