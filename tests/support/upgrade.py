"""Helpers for upgrade tests: a real HTTP server on loopback serving files, wheelhouse
tarballs, and a tiny stand-in wheelhouse (the agent only checks names, never installs)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Served", "serve", "sha256_of", "tar_wheelhouse", "tiny_stage"]


@dataclass
class Served:
    """What the server hands out: path -> bytes. `no_length` sends no Content-Length
    and closes the connection after the body (so only the bytes read can be counted)."""

    files: dict[str, bytes] = field(default_factory=dict)
    no_length: bool = False
    base: str = ""
    hits: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve(served: Served) -> Iterator[Served]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            served.hits.append(self.path)
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-tar")
            if not served.no_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, name="upgrade-http", daemon=True)
    t.start()
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_wheelhouse(wheelhouse: Path, dest: Path) -> bytes:
    """`tar -C wheelhouse -cf dest .` as an admin would (links followed: a wheelhouse of
    symlinked wheels becomes regular files)."""
    with tarfile.open(dest, "w", dereference=True) as tf:
        tf.add(wheelhouse, arcname=".")
    return dest.read_bytes()


def tiny_stage(tmp: Path, version: str, extra: dict[str, bytes] | None = None) -> Path:
    """A wheelhouse the agent accepts: requirements.txt and baygate-VERSION's wheel."""
    wh = tmp / f"stage-{version}"
    wh.mkdir()
    (wh / "requirements.txt").write_text("baygatedep==1.0 --hash=sha256:" + "0" * 64 + "\n")
    (wh / f"baygate-{version}-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    for name, data in (extra or {}).items():
        (wh / name).write_bytes(data)
    return wh
