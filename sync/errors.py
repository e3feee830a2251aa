"""Errors raised by sync. paho, sqlite3 and psycopg exceptions are translated here.

Nothing from a third-party library crosses the package boundary: callers catch
`SyncError` (or one of the subclasses below) and never `sqlite3.Error`.
"""

__all__ = [
    "AuthKeyError",
    "AuthRefusedError",
    "BadMessageError",
    "CommandError",
    "ConnectRefusedError",
    "IngestError",
    "LinkError",
    "OutboxClosedError",
    "OutboxError",
    "OutboxFullError",
    "PayloadTooLargeError",
    "SessionTakenOverError",
    "StoreError",
    "SyncError",
    "TlsError",
]


class SyncError(Exception):
    """Root of every error sync raises."""


class OutboxError(SyncError):
    """The outbox database failed (I/O error, corrupt file, ...)."""


class OutboxFullError(OutboxError):
    """The disk (or the configured size limit) is full: new work is refused, old work kept."""


class OutboxClosedError(OutboxError):
    """The outbox was closed; nothing more can be put."""


class PayloadTooLargeError(SyncError):
    """A payload is larger than the outbox (or the broker) accepts."""


class LinkError(SyncError):
    """The MQTT link failed (connection lost, network unreachable, ...)."""


class ConnectRefusedError(LinkError):
    """The broker answered CONNECT with a failure reason code."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(f"broker refused the connection: {reason} (reason code {code:#04x})")
        self.reason = reason
        self.code = code


class AuthRefusedError(ConnectRefusedError):
    """Bad user name or password, or not authorized (reason codes 0x86, 0x87)."""


class TlsError(LinkError):
    """TLS could not be set up (missing/invalid CA, cert or key) or the handshake failed."""


class BadMessageError(SyncError):
    """An incoming ack, command or record payload is malformed."""


class AuthKeyError(SyncError):
    """A per-agent authentication key is missing or not 32 bytes of hex."""


class CommandError(SyncError):
    """A remote command was refused (unknown name, invalid arguments) or failed."""


class IngestError(SyncError):
    """The backend ingest failed."""


class SessionTakenOverError(IngestError):
    """Another client connected with our client id (MQTT 5 reason 0x8E): final, since
    reconnecting would take the session back and the two would alternate forever."""


class StoreError(IngestError):
    """The backend store (SQLite or PostgreSQL) failed."""
