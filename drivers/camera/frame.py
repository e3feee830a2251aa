"""One camera frame, kept compressed until something needs its pixels.

An MJPEG camera (an IP camera's http:// stream, a UVC camera in MJPG mode) sends whole
JPEGs. Having FFmpeg decode every one to a full-size BGR array was most of what an
empty bay cost (issue 12: 5.1 % of a core for a 720p/15 fps stream; the packets alone
0.1 %). Most frames of an empty bay are only ever looked at by the change gate, which
needs a tiny grey copy: libjpeg's DCT scaling (`cv2.IMREAD_REDUCED_GRAYSCALE_8`) skips
the inverse DCT, upsampling and colour conversion of the full frame (2.2 ms instead of
3.9 ms on the footprint bench's 194 KB noisy 720p JPEG: the entropy decoding it cannot
skip dominates a noisy frame; a clean one gains more). So a `Frame` holds either the
JPEG bytes or a decoded array, and
- `small()` is the gate's 80x45 grey copy (from the reduced decode of a JPEG, or from
  every 4th pixel of an array), computed once;
- `image` is the full BGR (or grey) array, decoded once on first use, and only for
  frames the gate let through.

The decoded size is bounded from the header (a camera or a file is outside input): a
JPEG over 24 MP is downscaled while decoding (1/2, 1/4, 1/8), another format over 64 MP
is refused. Undecodable bytes raise FrameError, never return None.
"""

from __future__ import annotations

import cv2
import numpy as np

from drivers.camera.errors import FrameError

__all__ = ["SMALL", "Frame", "as_frame", "decode_flag", "header_size"]

# The gate's tiny copy: 80 x 45 blocks at 16:9 (drivers/camera/change.py says why).
SMALL = (80, 45)
# Decoded size bounds. A 16000x16000 PNG is 40 KB on disk and 768 MB as BGR (it took
# 21 s and 1.9 GB). JPEGs are downscaled while decoding (libjpeg's 1/2, 1/4, 1/8 DCT
# scaling, cv2.IMREAD_REDUCED_*) to at most _TARGET_PIXELS; other formats decode whole,
# so they are refused past _MAX_DECODE_PIXELS (64 MP: 192 MB as BGR).
_TARGET_PIXELS = 24_000_000
_MAX_DECODE_PIXELS = 64_000_000
_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_REDUCED_GREY = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
_SOI = b"\xff\xd8"
# The header parser looks this far; a JPEG's SOF comes after its tables (< 1 KB from
# cameras; EXIF thumbnails of stills push it to ~64 KB).
_HEAD = 1 << 16


class Frame:
    """A frame as the camera sent it: JPEG bytes (`jpeg`) or a decoded uint8 array.
    Build with `Frame.of(array)` or `Frame.from_jpeg(data)`. Not locked: the grabber
    hands a frame to one consumer at a time; the worst a race could do is decode twice."""

    __slots__ = ("_image", "_jpeg", "_small", "name")

    def __init__(
        self, *, image: np.ndarray | None = None, jpeg: np.ndarray | None = None, name: str = ""
    ) -> None:
        if (image is None) == (jpeg is None):
            raise ValueError("a Frame is either an image or a JPEG")
        self._image = image
        self._jpeg = jpeg
        self._small: np.ndarray | None = None
        self.name = name  # what error messages call it (the source's name)

    @classmethod
    def of(cls, image: np.ndarray, name: str = "") -> Frame:
        """A frame that is already decoded (V4L2 raw, a video file, the simulator)."""
        return cls(image=image, name=name)

    @classmethod
    def from_jpeg(cls, data: bytes | bytearray | memoryview | np.ndarray, name: str = "") -> Frame:
        """A frame as its JPEG bytes; FrameError when they do not start like a JPEG
        (decoding errors surface later, from `small()` or `image`)."""
        buf = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
        if buf.dtype != np.uint8 or buf.size < 4 or bytes(buf[:2]) != _SOI:
            raise FrameError(f"{name or 'frame'}: not a JPEG ({buf.size} bytes)")
        return cls(jpeg=buf, name=name)

    @property
    def jpeg(self) -> bytes | None:
        """The compressed frame, if it came compressed."""
        return None if self._jpeg is None else self._jpeg.tobytes()

    @property
    def decoded(self) -> bool:
        """Are the full-size pixels in memory (decoded, or never compressed)?"""
        return self._image is not None

    @property
    def image(self) -> np.ndarray:
        """The full frame (BGR, or as the source gave it), decoded on first use."""
        if self._image is None:
            assert self._jpeg is not None
            self._image = _imdecode(self._jpeg, decode_flag(bytes(self._jpeg[:_HEAD]), self.name), self.name)
        return self._image

    def small(self) -> np.ndarray:
        """The gate's tiny grey copy (SMALL, float32), computed once. From a JPEG: the
        largest libjpeg reduction (1/8, 1/4, 1/2) that still covers SMALL, then block
        means (2.2 ms for a noisy 720p JPEG, see above). From an array: every 4th pixel
        of every 4th row, then block means (0.25 ms at 720p; a full-frame INTER_AREA
        took 0.6)."""
        if self._small is None:
            if self._image is not None:
                grey = self._image
                if grey.shape[0] >= 4 * SMALL[1] and grey.shape[1] >= 4 * SMALL[0]:
                    grey = grey[::4, ::4]
            else:
                grey = self._reduced_grey()
            tiny = cv2.resize(grey, SMALL, interpolation=cv2.INTER_AREA)
            if tiny.ndim == 3:
                tiny = cv2.cvtColor(tiny, cv2.COLOR_BGR2GRAY if tiny.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
            self._small = np.asarray(tiny, np.float32)
        return self._small

    def _reduced_grey(self) -> np.ndarray:
        assert self._jpeg is not None
        size = header_size(bytes(self._jpeg[:_HEAD]))
        f = 1
        if size is not None:
            w, h = size
            f = next((f for f in (8, 4, 2) if w >= f * SMALL[0] and h >= f * SMALL[1]), 1)
            if w * h / (f * f) > _TARGET_PIXELS:
                raise FrameError(f"{self.name or 'frame'}: a {w}x{h} JPEG is over the decode limit")
        return _imdecode(self._jpeg, _REDUCED_GREY[f], self.name)


def as_frame(frame: Frame | np.ndarray, name: str = "") -> Frame:
    """A Frame for what a caller handed over (arrays from tests, benches, simulators)."""
    return frame if isinstance(frame, Frame) else Frame.of(frame, name)


def _imdecode(buf: np.ndarray, flag: int, name: str) -> np.ndarray:
    try:
        img = cv2.imdecode(buf, flag)
    except cv2.error as exc:  # libjpeg errors come back as None; a few as exceptions
        raise FrameError(f"{name or 'frame'}: JPEG does not decode ({exc.err})") from None
    if img is None or img.size == 0:
        raise FrameError(f"{name or 'frame'}: JPEG does not decode ({buf.size} bytes, corrupt or truncated)")
    return np.asarray(img)


def decode_flag(head: bytes, name: str) -> int:
    """How to decode an image with this header within the memory bounds (FrameError
    past them)."""
    size = header_size(head)
    if size is None:
        return cv2.IMREAD_COLOR
    w, h = size
    pixels = w * h
    if pixels <= _TARGET_PIXELS:
        return cv2.IMREAD_COLOR
    if head[:2] == _SOI:
        f = next((f for f in (2, 4, 8) if pixels / (f * f) <= _TARGET_PIXELS), 8)
        return _REDUCED[f]
    if pixels > _MAX_DECODE_PIXELS:
        raise FrameError(
            f"{name}: {w}x{h} is {pixels / 1e6:.0f} MP, over the {_MAX_DECODE_PIXELS // 1_000_000} MP"
            " decode limit (JPEGs are downscaled while decoding; other formats are not)"
        )
    return cv2.IMREAD_COLOR


def header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, without decoding; None otherwise."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] != _SOI:
        return None
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            return None
        marker, length = head[i + 1], int.from_bytes(head[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: the frame header
            return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(head[i + 5 : i + 7], "big")
        i += 2 + length
    return None
