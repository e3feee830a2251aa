"""From reply lines to messages per ECU: headers, ISO-TP reassembly, legacy frames.

Line formats handled (all with or without spaces, i.e. `ATS0` or not):

- CAN 11-bit, headers on:  `7E8 06 41 00 BE 3E B8 11` (header, PCI byte, data)
- CAN 29-bit, headers on:  `18 DA F1 10 06 41 00 ...`
- ISO-TP multi-frame, headers on: `7E8 10 14 49 02 01 ..`, `7E8 21 ..`, `7E8 22 ..`
  (first frame carries the 12-bit length, consecutive frames a 4-bit sequence)
- CAN, headers off (a clone that refused `ATH1`): `41 0C 1A F8`, or the ELM's own
  multi-line format `014` / `0: 49 02 01 31 44 34` / `1: ...`
- legacy (ISO 9141-2, KWP2000), headers on: `48 6B 10 41 0C 1A F8 C4`
  (3 header bytes, the source address is the ECU, a trailing checksum byte)
- SAE J1850 PWM / VPW, headers on: `41 6B 10 41 0C 1A F8 xx` / `48 6B 10 ...`: the same
  3 header bytes, but the trailing byte is a CRC-8, not a sum

Several ECUs may answer one request; messages are kept per ECU, in arrival order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from drivers.obd2.errors import ProtocolError, Truncated

__all__ = ["PROTOCOL_NAMES", "Framing", "Message", "framing_for_protocol", "guess_protocol", "parse_messages"]

UNKNOWN_ECU = "ECU"

# ELM327 protocol numbers (ATDPN without the "A" of automatic), as ATDP names them.
PROTOCOL_NAMES = {
    "1": "SAE J1850 PWM",
    "2": "SAE J1850 VPW",
    "3": "ISO 9141-2",
    "4": "ISO 14230-4 (KWP 5BAUD)",
    "5": "ISO 14230-4 (KWP FAST)",
    "6": "ISO 15765-4 (CAN 11/500)",
    "7": "ISO 15765-4 (CAN 29/500)",
    "8": "ISO 15765-4 (CAN 11/250)",
    "9": "ISO 15765-4 (CAN 29/250)",
    "A": "SAE J1939 (CAN 29/250)",
}


class Framing(Enum):
    CAN11 = "can11"
    CAN29 = "can29"
    LEGACY = "legacy"
    J1850 = "j1850"
    HEADERLESS_CAN = "headerless_can"
    HEADERLESS = "headerless"

    @property
    def is_can(self) -> bool:
        return self in (Framing.CAN11, Framing.CAN29, Framing.HEADERLESS_CAN)


def framing_for_protocol(number: str, headers: bool = True) -> Framing:
    """Framing for an ELM protocol number (`ATDPN` without the `A`): 6-9 are CAN."""
    n = number.upper().lstrip("A")[-1:] or "0"
    can = n in "6789"
    if not headers:
        return Framing.HEADERLESS_CAN if can else Framing.HEADERLESS
    if n in "68":
        return Framing.CAN11
    if n in "79":
        return Framing.CAN29
    if n in "12":
        return Framing.J1850
    return Framing.LEGACY


def guess_protocol(lines: list[str]) -> str | None:
    """An ELM protocol number from reply lines with headers on, for an adapter that
    answers neither ATDPN nor ATDP: the header's shape tells the framing, which is
    what parsing needs (250 or 500 kbit/s cannot be told; the 500 kbit/s number is
    returned, and a wrong guess costs a search on the next connect, nothing more)."""
    for line in lines:
        sq = line.replace(" ", "").upper()
        if not _HEX.match(sq):
            continue
        if len(sq) >= 10 and sq.startswith("18DA"):
            return "7"
        if len(sq) % 2 == 1 and sq[:2] == "7E":
            return "6"
        if sq[2:4] == "6B" and sq[:2] in ("41", "48"):
            # 48 6B is VPW and ISO 9141-2 alike: the check byte tells (CRC vs sum).
            raw = bytes.fromhex(sq)
            if sq[:2] == "41":
                return "1"
            return "2" if j1850_crc(raw[:-1]) == raw[-1] else "3"
        if sq[:1] == "8" and sq[2:4] == "F1":
            return "5"
    return None


@dataclass(frozen=True)
class Message:
    ecu: str
    data: bytes  # starts with the service byte (0x41 for a Mode 01 reply)


_HEX = re.compile(r"^[0-9A-F]*$")
_SEQ_LINE = re.compile(r"^([0-9A-F]):([0-9A-F]*)$")


def _hex(s: str) -> bytes:
    if len(s) % 2 or not _HEX.match(s):
        raise ProtocolError(f"not hex bytes: {s!r}")
    return bytes.fromhex(s)


@dataclass
class _Assembly:
    length: int
    data: bytearray
    next_seq: int = 1


@dataclass
class _Reassembler:
    """ISO-TP reassembly per ECU for headers-on CAN frames."""

    out: list[Message] = field(default_factory=list)
    open: dict[str, _Assembly] = field(default_factory=dict)

    def frame(self, ecu: str, frame: bytes) -> None:
        if not frame:
            raise ProtocolError(f"empty CAN frame from {ecu}")
        kind, low = frame[0] >> 4, frame[0] & 0x0F
        if kind == 0:  # single frame
            if low == 0 or len(frame) < 1 + low:
                raise ProtocolError(f"single frame from {ecu} shorter than its length {low}")
            self.out.append(Message(ecu, frame[1 : 1 + low]))
        elif kind == 1:  # first frame
            if len(frame) < 2:
                raise ProtocolError(f"truncated first frame from {ecu}")
            length = (low << 8) | frame[1]
            if length < 7:
                raise ProtocolError(f"first frame from {ecu} announces only {length} bytes")
            self.open[ecu] = _Assembly(length, bytearray(frame[2:]))
        elif kind == 2:  # consecutive frame
            asm = self.open.get(ecu)
            if asm is None:
                raise ProtocolError(f"consecutive frame from {ecu} without a first frame")
            if low != asm.next_seq:
                raise ProtocolError(f"ISO-TP sequence from {ecu}: got {low}, expected {asm.next_seq}")
            asm.next_seq = (asm.next_seq + 1) & 0x0F
            asm.data += frame[1:]
            if len(asm.data) >= asm.length:
                self.out.append(Message(ecu, bytes(asm.data[: asm.length])))
                del self.open[ecu]
        elif kind == 3:  # flow control: not addressed to us, ignore
            return
        else:
            raise ProtocolError(f"unknown ISO-TP frame type {kind} from {ecu}")

    def finish(self) -> list[Message]:
        if self.open:
            ecus = ", ".join(sorted(self.open))
            raise Truncated(f"multi-frame reply truncated (from {ecus})")
        return self.out


def _headerless(lines: list[str]) -> list[Message]:
    """Headers off: plain data lines, or the ELM's `014` / `0:` / `1:` CAN format."""
    out: list[Message] = []
    total: int | None = None
    chunks: list[bytes] = []
    expect = 0
    for line in lines:
        m = _SEQ_LINE.match(line)
        if len(line) == 3 and _HEX.match(line):
            if total is not None:
                raise ProtocolError("multi-line reply truncated before the next one began")
            total, chunks, expect = int(line, 16), [], 0
        elif m:
            if total is None:
                raise ProtocolError(f"sequence line without a length line: {line!r}")
            if int(m.group(1), 16) != expect:
                raise ProtocolError(f"multi-line sequence: got {m.group(1)}, expected {expect:X}")
            expect = (expect + 1) & 0x0F
            chunks.append(_hex(m.group(2)))
            if sum(map(len, chunks)) >= total:
                out.append(Message(UNKNOWN_ECU, b"".join(chunks)[:total]))
                total = None
        else:
            if total is not None:
                raise ProtocolError("multi-line reply interrupted")
            out.append(Message(UNKNOWN_ECU, _hex(line)))
    if total is not None:
        raise Truncated("multi-line reply truncated")
    return out


def j1850_crc(data: bytes) -> int:
    """SAE J1850 CRC-8: polynomial 0x1D, initial value 0xFF, result inverted
    (check value: 0x4B for b"123456789")."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def _legacy(lines: list[str], crc: bool = False) -> list[Message]:
    out = []
    for line in lines:
        raw = _hex(line)
        if len(raw) < 5:
            raise ProtocolError(f"legacy frame too short: {line!r}")
        check = j1850_crc(raw[:-1]) if crc else sum(raw[:-1]) & 0xFF
        if check != raw[-1]:
            raise ProtocolError(f"legacy frame {'CRC' if crc else 'checksum'} mismatch: {line!r}")
        out.append(Message(f"{raw[2]:02X}", raw[3:-1]))
    return out


def parse_messages(lines: list[str], framing: Framing) -> list[Message]:
    """Messages (service byte first) in arrival order; raises ProtocolError."""
    squashed = [ln.replace(" ", "").upper() for ln in lines]
    if framing in (Framing.HEADERLESS, Framing.HEADERLESS_CAN):
        return _headerless(squashed)
    if framing in (Framing.LEGACY, Framing.J1850):
        return _legacy(squashed, crc=framing is Framing.J1850)
    width = 3 if framing is Framing.CAN11 else 8
    asm = _Reassembler()
    for line in squashed:
        if len(line) <= width or not _HEX.match(line):
            raise ProtocolError(f"not a CAN frame: {line!r}")
        asm.frame(line[:width], _hex(line[width:]))
    return asm.finish()
