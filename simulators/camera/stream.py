"""The simulator as a live camera: an endless, deterministic frame stream, and an
MJPEG-over-HTTP server (multipart/x-mixed-replace, what IP cameras and OpenCV's FFmpeg
backend speak) so the driver's URL source is exercised over a real socket.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import cv2
import numpy as np

from simulators.camera.errors import SimulatorError
from simulators.camera.scenes import Scene, make_scene

__all__ = ["MjpegServer", "SceneStream"]

_BOUNDARY = b"baygateframe"


class SceneStream:
    """Cycles through (kind, degradation) scenes, showing each for `hold` frames with
    fresh sensor noise per frame (as a real camera would), forever or `limit` frames."""

    def __init__(
        self,
        scenes: list[tuple[str, str]],
        size: tuple[int, int] = (1280, 720),
        hold: int = 5,
        seed: int = 0,
        limit: int | None = None,
        *,
        keep: int = 1000,
    ) -> None:
        if not scenes:
            raise SimulatorError("a scene stream needs at least one (kind, degradation)")
        self.scenes = scenes
        self.size = size
        self.hold = max(1, hold)
        self.seed = seed
        self.limit = limit
        # The truth, in the order shown: the newest `keep` scenes. Bounded because a live
        # `sim:` camera runs for days (each 720p scene holds its ~2.7 MB image: an
        # unbounded list grew an agent by ~15 MB/s).
        self.shown: deque[Scene] = deque(maxlen=keep)

    def __iter__(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        count = 0
        for i in itertools.count():
            kind, degradation = self.scenes[i % len(self.scenes)]
            scene = make_scene(kind, degradation, self.seed * 10_000 + i, self.size)
            self.shown.append(scene)
            for _ in range(self.hold):
                if self.limit is not None and count >= self.limit:
                    return
                count += 1
                noisy = scene.image.astype(np.int16) + rng.integers(-3, 4, scene.image.shape, dtype=np.int16)
                yield np.clip(noisy, 0, 255).astype(np.uint8)


class MjpegServer:
    """Serves `frames` as MJPEG at `fps` on http://host:port/ (any path). One shared
    frame producer; every client gets the current frame. Use as a context manager."""

    def __init__(
        self, frames: SceneStream, host: str = "127.0.0.1", port: int = 0, fps: float = 10.0
    ) -> None:
        self._frames = iter(frames)
        self._fps = fps
        self._lock = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server._serve(self)

        # A port that cannot be bound raises OSError (the CLI: simulators/listening.py).
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, name="mjpeg-http", daemon=True),
            threading.Thread(target=self._produce, name="mjpeg-frames", daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/stream.mjpg"

    def start(self) -> MjpegServer:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            self._lock.notify_all()
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _produce(self) -> None:
        period = 1.0 / self._fps
        next_at = time.monotonic()
        for frame in self._frames:
            if self._stop.is_set():
                return
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                with self._lock:
                    self._jpeg = buf.tobytes()
                    self._seq += 1
                    self._lock.notify_all()
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        with self._lock:
            self._stop.set()
            self._lock.notify_all()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY.decode()}")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        seen = 0
        while not self._stop.is_set():
            with self._lock:
                while self._seq == seen and not self._stop.is_set():
                    self._lock.wait(0.5)
                jpeg, seen = self._jpeg, self._seq
            if jpeg is None:
                continue
            part = (
                b"--" + _BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                b"Content-Length: " + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n"
            )
            try:
                handler.wfile.write(part)
                handler.wfile.flush()
            except OSError:
                return  # client went away
