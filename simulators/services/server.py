"""A small threaded HTTP server with fault injection and an admin API, shared by the fakes.

Each fake supplies an `App` (route a request to a `Reply`); this module does the HTTP,
the faults, the added latency and the admin endpoints:
  GET  /_admin/stats    {"requests": N, "by_path": {...}, "faults": {...}}
  POST /_admin/faults   {"queue": ["503", "ok"], "persistent": "429", "latency_ms": 100}
  POST /_admin/reset    clear faults, latency and counters
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulators.services.faults import Fault, FaultPlan

__all__ = ["App", "Reply", "Request", "ServiceServer", "json_reply"]

HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def arg(self, name: str, default: str = "") -> str:
        """A query parameter, case-insensitively (vPIC accepts modelyear/modelYear)."""
        for k, v in self.query.items():
            if k.lower() == name.lower() and v:
                return v[0]
        return default


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(obj).encode())


App = Callable[[Request], Reply]


class ServiceServer:
    """Runs `app` on 127.0.0.1:`port` (0 = any free port) in a background thread."""

    def __init__(
        self,
        app: App,
        port: int = 0,
        host: str = "127.0.0.1",
        plan: FaultPlan | None = None,
        hang_s: float = 30.0,
    ) -> None:
        self.app = app
        self.plan = plan or FaultPlan()
        self.hang_s = hang_s
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> ServiceServer:
        # 50 ms shutdown poll: stopping a fake in a test teardown costs no more than that.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-service", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases requests stuck in a 'timeout' fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def close(self) -> None:
        self._stopping.set()
        self._httpd.server_close()

    def __enter__(self) -> ServiceServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def count(self, path: str) -> None:
        with self._count_lock:
            self.counts[path] += 1

    def stats(self) -> dict[str, Any]:
        with self._count_lock:
            by_path = dict(self.counts)
        return {"requests": sum(by_path.values()), "by_path": by_path, "faults": self.plan.describe()}

    def admin(self, req: Request) -> Reply:
        if req.path == "/_admin/stats":
            return json_reply(self.stats())
        if req.path == "/_admin/reset" and req.method == "POST":
            self.plan.reset()
            with self._count_lock:
                self.counts.clear()
            return json_reply({"ok": True})
        if req.path == "/_admin/faults" and req.method == "POST":
            try:
                body = json.loads(req.body or b"{}")
                self.plan.configure(body)
            except (ValueError, TypeError, AttributeError) as exc:
                return json_reply({"error": str(exc)}, 400)
            return json_reply({"ok": True, "faults": self.plan.describe()})
        return json_reply({"error": "no such admin endpoint"}, 404)

    def respond(self, req: Request, fault: Fault | None) -> Reply | None:
        """The reply for `req` under `fault`; None means: send nothing (timeout/reset)."""
        delay = self.plan.latency_ms / 1000
        if fault and fault.kind == "slow":
            delay += (fault.arg or 1000) / 1000
        if delay:
            self._stopping.wait(delay)
        if fault is None or fault.kind in ("ok", "slow"):
            return self.app(req)
        if fault.kind == "timeout":
            self._stopping.wait(fault.arg if fault.arg is not None else self.hang_s)
            return None
        if fault.kind == "reset":
            return None
        return _fault_reply(fault, self.app, req)


def _fault_reply(fault: Fault, app: App, req: Request) -> Reply:
    k = fault.kind
    if k in ("503", "429"):
        reason = {"503": "Service Unavailable", "429": "Too Many Requests"}[k]
        ra = fault.retry_after
        return Reply(int(k), json.dumps({"Message": reason}).encode(), headers={"Retry-After": f"{ra:g}"})
    if k in ("500", "502", "401", "403"):
        return json_reply({"Message": f"simulated {k}"}, int(k))
    if k == "html":
        return Reply(200, HTML_ERROR, content_type="text/html")
    if k == "poison":
        return Reply(200, b'{"Results":' + b"[" * 5000 + b"]" * 5000 + b"}")
    real = app(req)
    if k == "truncated":
        return Reply(200, real.body[: max(1, len(real.body) // 2)])
    return Reply(200, b"\x00\xff{garbage]]" + bytes(range(32, 64)))  # garbage


def _make_handler(server: ServiceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus
        # the client's delayed ACK adds ~40 ms to every keep-alive reply.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests and benchmarks would drown in access lines

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
            if parts.path.startswith("/_admin/"):
                self._send(server.admin(req))
                return
            server.count(parts.path)
            fault = server.plan.next_fault(self.headers.get("X-Fault"))
            reply = server.respond(req, fault)
            if reply is None:
                self.close_connection = True
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = _handle
        do_POST = _handle

    return Handler


def wait_forever(server: ServiceServer, announce: Callable[[str], None]) -> int:
    """Serve in the foreground until Ctrl-C (the CLI's main loop)."""
    announce(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    finally:
        server.close()
    return 0
