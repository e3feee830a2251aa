"""The local web: `GET /health` (health+json), `GET /metrics` (Prometheus) and, when the
bay screen is on, its pages under /ui — Starlette on uvicorn's pure-Python h11 server.

Light enough for a Pi (no uvloop/httptools; the bay screen adds ~1 MB of RSS and two
open pages another ~1 MB, bench/ui.py), and it binds 127.0.0.1 unless configured
(prometheus_client's own server binds 0.0.0.0 by default — docs/facts.md). Requests
are untrusted (docs/design.md, trust boundary):
  - a request head (line + headers) over 16 kB is refused with 414/431 (ours, before
    h11 sees it: h11 bounds only a head that arrives in pieces) and one warning per
    minute for the lot, never a traceback;
  - a client must finish its request head within `HEADER_DEADLINE_S` (slowloris: a
    client trickling a header every few seconds would otherwise hold a connection, and
    uvicorn's own keep-alive timer only runs between requests);
  - at most `MAX_CONNECTIONS` at once (a Pi serves a few screens, not the internet).
The server runs inside the runtime's TaskGroup and never installs signal handlers (the
runtime owns SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.service.health import HealthRegistry

__all__ = ["HEADER_DEADLINE_S", "MAX_CONNECTIONS", "MAX_HEAD_BYTES", "build_app", "serve_api"]

log = logging.getLogger("baygate.api")

HEADER_DEADLINE_S = 10.0
MAX_HEAD_BYTES = 16 * 1024  # h11's limit on an incomplete request head (line + headers)
MAX_CONNECTIONS = 64
_BAD_REQUEST_LOG_EVERY_S = 60.0


class _HeadDeadlineH11(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on each request head."""

    _deadline: asyncio.TimerHandle | None = None
    _head = 0  # bytes of the request head received so far

    def _refuse(self, status: int) -> None:
        reason = {414: "URI Too Long", 431: "Request Header Fields Too Large"}[status]
        _BAD_REQUESTS.note(f"request head over {MAX_HEAD_BYTES} bytes refused ({status})")
        self._disarm()
        with contextlib.suppress(RuntimeError):
            self.transport.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # a new request head starts (keep-alive): it gets its own deadline
            end = data.find(b"\r\n\r\n")
            self._head += end + 4 if end >= 0 else len(data)
            if self._head > MAX_HEAD_BYTES:
                # h11 only bounds a head that is still incomplete; one that arrives whole
                # in a read would be parsed, so the bound is applied here, before h11.
                line_end = data.find(b"\r\n")
                self._refuse(414 if line_end < 0 or line_end > MAX_HEAD_BYTES else 431)
                return
            if end >= 0:
                self._head = 0
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the head is complete: the app has the request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(HEADER_DEADLINE_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            log.debug("request head not complete after %.0f s: closing", HEADER_DEADLINE_S)
            with contextlib.suppress(RuntimeError):
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
            self.transport.close()


class _OncePerMinute(logging.Filter):
    """uvicorn logs every malformed request; a flood of them is one line a minute."""

    def __init__(self) -> None:
        super().__init__()
        self.last = -_BAD_REQUEST_LOG_EVERY_S
        self.suppressed = 0

    def note(self, message: str) -> None:
        """Our own refusals go through the same limit."""
        record = logging.LogRecord("baygate.api", logging.WARNING, __file__, 0, message, None, None)
        if self.filter(record, ours=True):
            log.warning("%s", record.msg)

    def filter(self, record: logging.LogRecord, *, ours: bool = False) -> bool:  # type: ignore[override]
        if not ours and not str(record.msg).startswith("Invalid HTTP request"):
            return True
        now = time.monotonic()
        if now - self.last < _BAD_REQUEST_LOG_EVERY_S:
            self.suppressed += 1
            return False
        self.last = now
        if self.suppressed:
            record.msg = f"{record.msg} ({self.suppressed} more since the last report)"
            self.suppressed = 0
        return True


_BAD_REQUESTS = _OncePerMinute()
logging.getLogger("uvicorn.error").addFilter(_BAD_REQUESTS)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the runtime owns SIGTERM/SIGINT


def build_app(
    health: HealthRegistry | None, metrics: CollectorRegistry | None, ui: Sequence[BaseRoute] | None = None
) -> Starlette:
    """The app: /health and /metrics unless None (a LAN-facing bay screen on its own port
    leaves them on the loopback server), the bay screen under /ui when given."""

    async def health_ep(request: Request) -> Response:
        assert health is not None
        doc = await asyncio.to_thread(health.evaluate)
        return JSONResponse(doc, status_code=health.http_status(doc), media_type="application/health+json")

    async def metrics_ep(request: Request) -> Response:
        assert metrics is not None
        body = await asyncio.to_thread(generate_latest, metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def root(request: Request) -> Response:
        if ui is None:
            return PlainTextResponse("not found\n", status_code=404)
        return RedirectResponse(
            "/ui/" + (f"?{request.url.query}" if request.url.query else ""), status_code=303
        )

    routes: list[BaseRoute] = [Route("/", root)]
    if health is not None:
        routes.append(Route("/health", health_ep, methods=["GET", "HEAD"]))
    if metrics is not None:
        routes.append(Route("/metrics", metrics_ep, methods=["GET", "HEAD"]))
    if ui is not None:
        routes.append(Mount("/ui", routes=list(ui)))
    return Starlette(routes=routes)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_api(
    health: HealthRegistry | None,
    metrics: CollectorRegistry | None,
    host: str = "127.0.0.1",
    port: int = 9310,
    *,
    ui: Sequence[BaseRoute] | None = None,
    before_stop: Callable[[], Any] | None = None,
) -> AsyncIterator[int]:
    """Serve until the context exits; yields the bound port (port 0 = a free one).
    `before_stop` runs first on exit (the bay screen ends its event streams there)."""
    sock = _listen(host, port)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        build_app(health, metrics, ui),
        log_config=None,  # our logging (journal) is already set up
        access_log=False,
        lifespan="off",
        http=_HeadDeadlineH11,
        ws="none",
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="local-web")
    try:
        # uvicorn.Server exposes `started` only as a flag; 10 ms polls for a few at start.
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if task.done():
            await task  # raises what stopped it
            raise OSError(f"local web on {host}:{bound} stopped at start")
        what = [
            n for n, on in (("health", health), ("metrics", metrics), ("bay screen", ui)) if on is not None
        ]
        log.info("local web on http://%s:%d/ (%s)", host, bound, ", ".join(what))
        yield bound
    finally:
        if before_stop is not None:
            before_stop()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
