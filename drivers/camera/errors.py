"""Errors raised by the camera driver. Third-party exceptions are translated here."""

__all__ = [
    "CameraError",
    "DecodeError",
    "FrameError",
    "OcrError",
    "PayloadError",
    "SourceError",
]


class CameraError(Exception):
    """Root of every error the camera driver raises."""


class SourceError(CameraError):
    """A frame source cannot be opened or read (bad spec, unreadable file, device gone)."""


class FrameError(CameraError):
    """A frame is unusable: empty, zero-size, wrong dtype or shape, or not an image."""


class DecodeError(CameraError):
    """A decoder failed on a frame in a way other than 'found nothing'."""


class OcrError(CameraError):
    """The OCR engine could not be started (tessdata missing) or failed on a crop."""


class PayloadError(CameraError):
    """A decoded payload is unusable (over the length cap, empty)."""
