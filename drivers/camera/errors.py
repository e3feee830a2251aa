"""Errors raised by the camera driver. Third-party exceptions are translated here."""

__all__ = ["CameraError"]


class CameraError(Exception):
    """Root of every error the camera driver raises."""
