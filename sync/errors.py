"""Errors raised by sync. paho and sqlite3 exceptions are translated here."""

__all__ = ["SyncError"]


class SyncError(Exception):
    """Root of every error sync raises."""
