"""Capture: a reader thread that keeps only the newest frame.

The reader only reads: a `Frame` stays as the source gave it (for an MJPEG camera the
JPEG bytes, ~100 KB at 720p), and whoever takes it decides how much of it to decode
(frame.py). Frames overwritten in the slot were never decoded at all.

A live camera produces frames whether or not we keep up; if frames queued, latency
would grow without bound (a 15 fps camera and a 10 fps pipeline fall 5 s behind per
10 s). So the reader overwrites one slot and the consumer always gets the newest frame.
Finite sources (files, directories, iterators) are read losslessly instead: the reader
waits until the consumer took the frame.

A live source that fails (unplugged camera, dropped stream) is closed and reopened
under the one backoff policy (resilience.Backoff: 0.5 s doubling to 10 s, jittered);
meanwhile health is 'degraded'. The backoff resets only once a reopened source has
delivered frames for `healthy_after_s` (30 s): an RTSP camera that accepts the
connection and drops it after one frame is retried ever more slowly, not 2x a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from drivers.camera.errors import CameraError
from drivers.camera.frame import Frame
from drivers.camera.sources import FrameSource
from resilience import Backoff, BackoffPolicy

__all__ = ["CAMERA_BACKOFF", "FrameGrabber", "Health"]

# A camera is local: first retry soon, never wait more than 10 s for a replugged one.
CAMERA_BACKOFF = BackoffPolicy(first_s=0.5, cap_s=10.0, healthy_after_s=30.0)

State = Literal["starting", "ok", "degraded", "ended", "stopped"]


@dataclass(frozen=True)
class Health:
    state: State
    frames: int
    reopens: int
    last_error: str | None


class FrameGrabber:
    def __init__(
        self,
        source: FrameSource,
        backoff: BackoffPolicy = CAMERA_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.source = source
        self._backoff = Backoff(backoff, clock=clock)
        self._clock = clock
        # How the reader waits between reopens (True: stop now); injected by tests.
        self._wait = wait
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._taken = 0
        self._state: State = "starting"
        self._reopens = 0
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"grab-{source.name}", daemon=True)

    def start(self) -> FrameGrabber:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def health(self) -> Health:
        with self._cond:
            return Health(self._state, self._seq, self._reopens, self._error)

    def latest(self, timeout: float = 1.0) -> tuple[int, Frame] | None:
        """The newest frame not yet returned, waiting up to `timeout` s; None when none
        came (check health(): 'ended' means a finite source is done)."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._seq == self._taken or self._frame is None:
                if self._state in ("ended", "stopped"):
                    return None
                left = deadline - self._clock()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.2))
            self._taken = self._seq
            self._cond.notify_all()
            return self._seq, self._frame

    def _set(self, state: State, error: str | None = None) -> None:
        with self._cond:
            self._state = state
            if error is not None:
                self._error = error
            self._cond.notify_all()

    def _run(self) -> None:
        wait = self._wait or self._stop.wait
        while not self._stop.is_set():
            try:
                self.source.open()
                self._backoff.up()
                self._read_until_error()
                if not self.source.live:
                    self._set("ended")
                    break
            except CameraError as exc:
                self._set("degraded", str(exc))
            finally:
                self.source.close()
            if not self.source.live and self._state == "degraded":
                self._set("ended")
                break
            if wait(self._backoff.next_delay()) or self._stop.is_set():
                break
            with self._cond:
                self._reopens += 1
        self._set("ended" if self._state == "ended" else "stopped")

    def _read_until_error(self) -> None:
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                if self.source.live:
                    raise CameraError(f"{self.source.name}: stream ended")
                return
            with self._cond:
                if not self.source.live:
                    while self._seq != self._taken and not self._stop.is_set():
                        self._cond.wait(0.2)
                self._frame = frame
                self._seq += 1
                if self._state != "ok":
                    self._state = "ok"
                    self._error = None
                self._cond.notify_all()
