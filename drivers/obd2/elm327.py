"""ELM327 request/reply framing, sans-IO.

An ELM327 answers every command with lines ended by CR and then a `>` prompt. This
module turns the byte stream into replies (text before each prompt, NULs stripped),
and a reply into its data lines: echo removed (clones whose `ATE0` does not stick),
`SEARCHING...` dropped, status words (`NO DATA`, `CAN ERROR`, ...) raised as typed
errors. It does no I/O: transports feed bytes in, the session reads replies out.
"""

from __future__ import annotations

import re

from drivers.obd2.errors import (
    AdapterError,
    BufferFull,
    BusBusy,
    BusInitError,
    CanError,
    NoData,
    ProtocolError,
    Stopped,
    UnableToConnect,
    UnknownCommand,
)

__all__ = [
    "MAX_REPLY_BYTES",
    "PromptBuffer",
    "encode_command",
    "reply_lines",
    "status_error",
]

PROMPT = b">"
# A full 6-PID reply from three ECUs is well under 1 KiB; 64 KiB means the adapter is
# streaming garbage (or a monitor mode we never enter) and the link must be reset.
MAX_REPLY_BYTES = 65536

_COMMAND = re.compile(r"^[A-Za-z0-9 @]{0,40}$")


def encode_command(cmd: str) -> bytes:
    """The bytes to send for `cmd` (an AT command or hex request); CR terminated."""
    if not _COMMAND.match(cmd):
        raise ValueError(f"not an ELM327 command: {cmd!r}")
    return cmd.encode("ascii") + b"\r"


class PromptBuffer:
    """Accumulates bytes from the adapter and yields each reply that ended in `>`."""

    def __init__(self, limit: int = MAX_REPLY_BYTES) -> None:
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[str]:
        """Add received bytes; return the replies completed by a prompt, oldest first."""
        self._buf += data.replace(b"\x00", b"")
        replies: list[str] = []
        while (i := self._buf.find(PROMPT)) >= 0:
            replies.append(self._buf[:i].decode("ascii", errors="replace"))
            del self._buf[: i + 1]
        if len(self._buf) > self._limit:
            self._buf.clear()
            raise ProtocolError(f"no prompt within {self._limit} bytes")
        return replies

    @property
    def pending(self) -> str:
        """Bytes received since the last prompt (for clones that omit the prompt)."""
        return self._buf.decode("ascii", errors="replace")

    def take_pending(self) -> str:
        text = self.pending
        self._buf.clear()
        return text

    def clear(self) -> None:
        self._buf.clear()


# Status words: an exact line (after trimming), or a prefix for the variable ones.
_STATUS: list[tuple[str, type[AdapterError]]] = [
    ("NO DATA", NoData),
    ("CAN ERROR", CanError),
    ("BUFFER FULL", BufferFull),
    ("BUS BUSY", BusBusy),
    ("STOPPED", Stopped),
    ("UNABLE TO CONNECT", UnableToConnect),
    ("?", UnknownCommand),
    ("FB ERROR", CanError),
    ("DATA ERROR", CanError),
    ("RX ERROR", CanError),
    ("LV RESET", Stopped),
    ("ACT ALERT", Stopped),
]


def status_error(line: str) -> AdapterError | None:
    """The typed error for an adapter status line, or None if it is not one."""
    up = line.strip().upper()
    if up.startswith("BUS INIT"):
        return BusInitError(up) if "ERROR" in up else None
    if up.startswith("<") and "ERROR" in up:  # '<DATA ERROR' / '<RX ERROR' markers
        return CanError(up)
    for word, cls in _STATUS:
        if up == word or (len(word) > 1 and up.startswith(word)):
            return cls(up)
    return None


def _squash(s: str) -> str:
    return s.replace(" ", "").upper()


def reply_lines(reply: str, sent: str = "") -> list[str]:
    """The meaningful lines of one reply to the command `sent`.

    Drops empty lines, the echo of `sent` (echo tolerance: some clones keep echo on),
    `SEARCHING...` and `BUS INIT: ...OK`. Raises the typed AdapterError when the reply
    is a status word with no data, or when the adapter says the data is cut
    (`BUFFER FULL`, `STOPPED`).
    """
    echo = _squash(sent)
    lines: list[str] = []
    errors: list[AdapterError] = []
    for raw in re.split(r"[\r\n]+", reply):
        line = raw.strip()
        if not line:
            continue
        up = line.upper()
        if echo and _squash(line) == echo:
            continue
        if up.startswith("SEARCHING"):
            continue
        if up.startswith("BUS INIT") and "ERROR" not in up:
            continue
        err = status_error(line)
        if err is not None:
            errors.append(err)
            continue
        lines.append(line)
    for err in errors:
        if isinstance(err, BufferFull | Stopped) or not lines:
            raise err
    return lines
