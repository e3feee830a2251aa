"""One OBD request's reply: messages grouped per ECU, negative responses typed.

`parse_reply` is the whole sans-IO path from the adapter's text to data: status
words -> AdapterError, malformed frames -> ProtocolError, `7F` from every ECU ->
NegativeResponse, and otherwise the positive messages per ECU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.obd2.elm327 import reply_lines
from drivers.obd2.errors import NegativeResponse, ProtocolError
from drivers.obd2.frames import Framing, Message, parse_messages

__all__ = ["Reply", "parse_reply", "request_text"]

# NRC 0x78 "response pending": the ECU will answer later in the same reply; not a refusal.
_PENDING = 0x78


@dataclass(frozen=True)
class Reply:
    service: int  # the request's service (0x01 for Mode 01)
    by_ecu: dict[str, list[bytes]]  # ECU header -> positive messages (service byte first)
    negatives: dict[str, NegativeResponse] = field(default_factory=dict)

    @property
    def ecus(self) -> list[str]:
        return sorted(self.by_ecu)

    def first(self) -> tuple[str, list[bytes]]:
        """The answer of the lowest-addressed ECU (7E8 before 7E9): the engine, usually."""
        ecu = self.ecus[0]
        return ecu, self.by_ecu[ecu]


def request_text(service: int, payload: bytes = b"", count: int | None = None) -> str:
    """`010C0D` style request; `count` (1-15) appends the expected-response digit."""
    text = f"{service:02X}{payload.hex().upper()}"
    if count is not None and 1 <= count <= 15:
        text += f"{count:X}"
    return text


def parse_reply(reply: str, sent: str, service: int, framing: Framing) -> Reply:
    """Parse the adapter's reply to the request `sent` for `service`."""
    lines = reply_lines(reply, sent)
    messages = parse_messages(lines, framing)
    by_ecu: dict[str, list[bytes]] = {}
    negatives: dict[str, NegativeResponse] = {}
    for msg in messages:
        _sort(msg, service, by_ecu, negatives)
    if not by_ecu:
        if negatives:
            raise next(iter(negatives.values()))
        raise ProtocolError(f"no reply to service 0x{service:02X} in {lines!r}")
    return Reply(service, by_ecu, negatives)


def _sort(
    msg: Message, service: int, by_ecu: dict[str, list[bytes]], negatives: dict[str, NegativeResponse]
) -> None:
    data = msg.data
    if not data:
        raise ProtocolError(f"empty message from {msg.ecu}")
    if data[0] == 0x7F:
        if len(data) < 3:
            raise ProtocolError(f"truncated negative response from {msg.ecu}")
        if data[2] != _PENDING and data[1] == service:
            negatives[msg.ecu] = NegativeResponse(data[1], data[2], msg.ecu)
        return
    if data[0] == service + 0x40:
        by_ecu.setdefault(msg.ecu, []).append(data)
    # Anything else is bus chatter aimed at another tester: not ours, not an error.
