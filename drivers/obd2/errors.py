"""Errors raised by the OBD2 driver. Third-party exceptions are translated here."""

__all__ = ["OBDError"]


class OBDError(Exception):
    """Root of every error the OBD2 driver raises."""
