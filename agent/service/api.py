"""The local HTTP API: `GET /health` (health+json) and `GET /metrics` (Prometheus).

A deliberately tiny HTTP/1.1 responder on asyncio streams: two read-only endpoints do
not justify a web framework on a Pi, and it binds 127.0.0.1 unless configured
(prometheus_client's own server binds 0.0.0.0 by default — docs/facts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agent.service.health import HealthRegistry

__all__ = ["serve_api"]

log = logging.getLogger("baygate.api")
_MAX_REQUEST_LINE = 2048


def _response(status: int, ctype: str, body: bytes) -> bytes:
    reason = {
        200: "OK",
        404: "Not Found",
        405: "Method Not Allowed",
        400: "Bad Request",
        503: "Service Unavailable",
    }
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'OK')}\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    health: HealthRegistry,
    metrics: CollectorRegistry,
) -> None:
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=5)
        parts = line[:_MAX_REQUEST_LINE].decode("latin-1").split()
        # Drain headers; we need none of them.
        while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
            pass
        if len(parts) < 2:
            out = _response(400, "text/plain", b"bad request\n")
        elif parts[0] not in ("GET", "HEAD"):
            out = _response(405, "text/plain", b"GET only\n")
        elif parts[1].split("?")[0] == "/health":
            doc = await asyncio.to_thread(health.evaluate)
            out = _response(health.http_status(doc), "application/health+json", json.dumps(doc).encode())
        elif parts[1].split("?")[0] == "/metrics":
            body = await asyncio.to_thread(generate_latest, metrics)
            out = _response(200, CONTENT_TYPE_LATEST, body)
        else:
            out = _response(404, "text/plain", b"not found\n")
        writer.write(out)
        await writer.drain()
    except (TimeoutError, ConnectionError, UnicodeDecodeError) as exc:
        log.debug("api client dropped: %r", exc)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_api(
    health: HealthRegistry, metrics: CollectorRegistry, host: str = "127.0.0.1", port: int = 9310
) -> AsyncIterator[int]:
    """Serve until the context exits; yields the bound port (port 0 = a free one)."""
    server = await asyncio.start_server(lambda r, w: _handle(r, w, health, metrics), host, port)
    bound = int(server.sockets[0].getsockname()[1])
    log.info("health and metrics on http://%s:%d/", host, bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
