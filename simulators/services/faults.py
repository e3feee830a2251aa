"""Fault injection shared by the fake services.

A fault is named by a short spec:
  ok             no fault (useful inside a queue)
  503[:S]        503 Service Unavailable with Retry-After: S (default 1)
  429[:S]        429 Too Many Requests with Retry-After: S (default 1)
  500, 502       plain server errors
  401, 403       authentication / authorisation failure
  timeout        accept the request and never answer (until the server stops or hang_s passes)
  reset          close the connection without a reply
  slow:MS        answer normally after MS extra milliseconds
  html           200 with an HTML error page instead of JSON
  truncated      200 with the real JSON cut in half
  garbage        200 with bytes that are not JSON
  poison         200 with valid-looking JSON nested 5,000 deep (10 kB): json.loads raises
                 RecursionError on it

Faults are chosen per request, first match wins: the `X-Fault` request header, then the
next entry of the queue (set through `POST /_admin/faults`), then the persistent fault.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Fault", "FaultPlan", "parse_fault"]

KINDS = frozenset(
    "ok 503 429 500 502 401 403 timeout reset slow html truncated garbage poison".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Fault:
    kind: str
    arg: float | None = None

    @property
    def retry_after(self) -> float:
        return self.arg if self.arg is not None else 1.0


def parse_fault(spec: str) -> Fault:
    """'503:2' -> Fault('503', 2.0). Raises ValueError for unknown kinds."""
    kind, _, arg = spec.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown fault {kind!r} (known: {', '.join(sorted(KINDS))})")
    return Fault(kind, float(arg) if arg else None)


@dataclass
class FaultPlan:
    """What the next requests suffer. Thread-safe: the server answers in threads."""

    persistent: Fault | None = None
    latency_ms: float = 0.0
    queue: deque[Fault] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self, header: str | None) -> Fault | None:
        if header:
            try:
                return parse_fault(header)
            except ValueError:
                return None
        with self._lock:
            if self.queue:
                return self.queue.popleft()
            return self.persistent

    def configure(self, body: dict[str, Any]) -> None:
        """Apply an admin request: {"queue": [...], "persistent": spec|null, "latency_ms": n}."""
        with self._lock:
            if "queue" in body:
                self.queue = deque(parse_fault(str(s)) for s in body["queue"])
            if "persistent" in body:
                p = body["persistent"]
                self.persistent = parse_fault(str(p)) if p else None
            if "latency_ms" in body:
                self.latency_ms = max(0.0, float(body["latency_ms"]))

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.persistent = None
            self.latency_ms = 0.0

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "persistent": self.persistent.kind if self.persistent else None,
                "queue": [f.kind for f in self.queue],
                "latency_ms": self.latency_ms,
            }
