"""Frame sources behind one interface: V4L2 device (index or /dev/videoN), video file,
RTSP/HTTP(MJPEG) URL, a directory of images, and any iterator/callable of frames (how
the simulator — which the driver must not import — plugs in).

A source is blocking and single-threaded: `open()`, then `read()` until it returns None
(a finite source ended) or raises SourceError (a live source failed; the grabber in
capture.py reopens it). `read()` returns a `Frame` (frame.py): the JPEG as the camera
sent it when the stream is Motion-JPEG and FFmpeg reads it (an IP camera's http://
MJPEG, RTSP MJPEG, an MJPEG AVI: FFmpeg hands over whole packets with
CAP_PROP_FORMAT = -1, checked with OpenCV 5.0.0), else a decoded BGR or grey uint8
array. Keeping the JPEG lets an empty bay skip the full decode of each frame (issue 12).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from drivers.camera.errors import FrameError, SourceError
from drivers.camera.frame import Frame, as_frame, decode_flag

__all__ = [
    "IMAGE_SUFFIXES",
    "DirectorySource",
    "FrameSource",
    "IteratorSource",
    "OpenCVSource",
    "load_image",
    "open_source",
    "quiet_native_logs",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# Larger files are not camera stills; refusing them bounds memory (a 4K PNG is ~25 MB).
MAX_IMAGE_BYTES = 64 * 1024 * 1024
# FFmpeg names the Motion-JPEG codec so (CAP_PROP_FOURCC), whatever the container:
# an http:// multipart stream, an RTSP MJPEG stream, an AVI file.
_MJPG = cv2.VideoWriter.fourcc(*"MJPG")
_MAX_BAD_PACKETS = 15


class FrameSource(Protocol):
    name: str
    live: bool  # True: frames keep coming and a failure means reopen; False: it ends

    def open(self) -> None: ...
    def read(self) -> Frame | None: ...
    def close(self) -> None: ...


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """One image file as a BGR array; FrameError saying why when it cannot be used."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise FrameError(f"{p}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise FrameError(f"{p}: empty file")
    if size > MAX_IMAGE_BYTES:
        raise FrameError(f"{p}: {size} bytes is over the {MAX_IMAGE_BYTES} byte limit")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise FrameError(f"{p}: cannot read ({exc.strerror})") from None
    img = cv2.imdecode(data, decode_flag(bytes(data[: 1 << 16]), str(p)))
    if img is None or img.size == 0:
        raise FrameError(f"{p}: not a decodable image (corrupt or unsupported format)")
    return img


def quiet_native_logs() -> None:
    """Keep OpenCV's and FFmpeg's own log lines ('[ WARN:0@0.48] global cap.cpp...',
    '[tcp @ 0x...] Connection ... refused') off stdout/stderr: they bypass our logging
    and break one-JSON-object-per-line. What they said reaches the operator as our
    SourceError text and the grabber's health. FFmpeg reads OPENCV_FFMPEG_LOGLEVEL
    (-8 = quiet) when its backend first loads, so this runs before the first capture."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class OpenCVSource:
    """cv2.VideoCapture over a V4L2 device, a video file or an RTSP/HTTP URL. Through
    FFmpeg, a Motion-JPEG stream is read as packets (whole JPEGs, not decoded here);
    V4L2 still decodes (its raw MJPG buffer, CAP_PROP_CONVERT_RGB = 0, could not be
    tried without a camera)."""

    def __init__(self, target: int | str, width: int = 1280, height: int = 720, fps: float = 15.0) -> None:
        self.target = target
        self.name = str(target)
        self.live = isinstance(target, int) or str(target).startswith(
            ("/dev/", "rtsp://", "http://", "https://")
        )
        self._size = (width, height)
        self._fps = fps
        self._cap: cv2.VideoCapture | None = None
        self.raw = False  # reading JPEG packets (set by open)
        self.bad_packets = 0  # packets of an MJPEG stream that were not JPEGs (skipped)

    def open(self) -> None:
        self.close()
        quiet_native_logs()
        if isinstance(self.target, int) or str(self.target).startswith("/dev/"):
            cap = cv2.VideoCapture(self.target, cv2.CAP_V4L2)
            # MJPG keeps 720p@15+ within USB 2 bandwidth; ask for one buffered frame so
            # the driver queue does not add latency (not every driver honours it).
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
            cap.set(cv2.CAP_PROP_FPS, self._fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            if not self.live and not Path(str(self.target)).is_file():
                raise SourceError(f"{self.target}: no such video file")
            cap = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open camera source {self.name}")
        # Packets instead of decoded frames: FFmpeg's decode + BGR conversion of a
        # 720p/15 fps MJPEG stream cost 5.1 % of a core, the packets alone 0.1 %.
        self.raw = (
            not isinstance(self.target, int)
            and not str(self.target).startswith("/dev/")
            and int(cap.get(cv2.CAP_PROP_FOURCC)) == _MJPG
            and bool(cap.set(cv2.CAP_PROP_FORMAT, -1))
        )
        self._cap = cap

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.name}: read before open")
        # FFmpeg passes a multipart part on as a packet whatever it holds; a part that is
        # not a JPEG is skipped and counted, and over a second of nothing else (more than
        # 15 in a row at 15 fps) is a failed source, reopened like a dropped one.
        error = ""
        for _ in range(_MAX_BAD_PACKETS + 1):
            ok, frame = self._cap.read()
            if not ok or frame is None or frame.size == 0:
                if self.live:
                    raise SourceError(f"{self.name}: no frame (device unplugged or stream down)")
                return None
            if not self.raw:
                return Frame.of(np.asarray(frame), self.name)
            try:
                return Frame.from_jpeg(np.asarray(frame, np.uint8).reshape(-1), self.name)
            except FrameError as exc:
                self.bad_packets += 1
                error = str(exc)
        raise SourceError(f"{error} ({_MAX_BAD_PACKETS + 1} in a row from an MJPEG stream)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class DirectorySource:
    """Every image file of a directory, in name order, once. Files that do not decode
    are skipped and listed in `errors` (one bad file must not stop the rest)."""

    live = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = f"dir:{self.path}"
        self.errors: list[str] = []
        self._files: Iterator[Path] = iter(())

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: not a directory")
        files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self._files = iter(files)

    def read(self) -> Frame | None:
        for p in self._files:
            try:
                return Frame.of(load_image(p), str(p))
            except FrameError as exc:
                self.errors.append(str(exc))
        return None

    def close(self) -> None:
        self._files = iter(())


class IteratorSource:
    """Frames (arrays or Frames) from an iterable or a zero-argument callable (None ends
    it). This is how the simulator plugs in without the driver importing it."""

    def __init__(
        self,
        frames: Iterable[np.ndarray | Frame] | Callable[[], np.ndarray | Frame | None],
        name: str = "iter",
        live: bool = False,
    ) -> None:
        self.name = name
        self.live = live
        self._frames = frames
        self._it: Iterator[np.ndarray | Frame] | None = None

    def open(self) -> None:
        if not callable(self._frames):
            self._it = iter(self._frames)

    def read(self) -> Frame | None:
        if callable(self._frames):
            frame = self._frames()
        elif self._it is None:
            raise SourceError(f"{self.name}: read before open")
        else:
            frame = next(self._it, None)
        return None if frame is None else as_frame(frame, self.name)

    def close(self) -> None:
        self._it = None


def open_source(spec: str, width: int = 1280, height: int = 720, fps: float = 15.0) -> FrameSource:
    """The source for a config `source` string (not yet opened). 'sim:' is the agent's
    business (it owns the simulator wiring) and is refused here."""
    spec = spec.strip()
    if not spec:
        raise SourceError("empty camera source")
    if re.fullmatch(r"\d{1,3}", spec):
        return OpenCVSource(int(spec), width, height, fps)
    if spec.startswith(("rtsp://", "http://", "https://", "/dev/")):
        return OpenCVSource(spec, width, height, fps)
    if spec.startswith("dir:"):
        return DirectorySource(spec[4:])
    if spec.startswith("sim:"):
        raise SourceError("sim: sources are built by the agent, not the driver")
    if Path(spec).is_dir():
        return DirectorySource(spec)
    return OpenCVSource(spec, width, height, fps)
