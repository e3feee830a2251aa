"""Bus framing and the adapter's display of it: CAN 11/29-bit ISO-TP, SAE J1850 PWM and
VPW, ISO 9141-2, KWP2000.

`can_frames` cuts one message into 8-byte CAN frames (ISO 15765-2 single frame, or
first frame + consecutive frames with the padding byte the ECU uses). `render_*`
turn frames into the text lines an ELM327 prints for its H (headers), S (spaces) and
CAF (CAN auto-formatting) settings, matching captures from real adapters, e.g.
`7E8 03 41 11 2D ` (note the trailing space with S1) or, headers off, multi-frame as
`014` / `0: 49 02 01 31 44 34 ` / `1: ...`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Display",
    "can_frames",
    "iso_frame",
    "j1850_crc",
    "j1850_frame",
    "kwp_frame",
    "render_can",
    "render_legacy",
]

CAN_DATA = 8
SF_MAX = 7
FF_DATA = 6
CF_DATA = 7


@dataclass(frozen=True)
class Display:
    headers: bool = False
    spaces: bool = True
    caf: bool = True


def _hex(data: bytes, spaces: bool) -> str:
    if spaces:
        return "".join(f"{b:02X} " for b in data)
    return data.hex().upper()


def can_frames(message: bytes, padding: int) -> list[bytes]:
    """ISO-TP segmentation of one message into 8-byte CAN data fields."""
    if len(message) <= SF_MAX:
        return [bytes([len(message)]) + message.ljust(SF_MAX, bytes([padding]))]
    size = len(message)
    frames = [bytes([0x10 | (size >> 8), size & 0xFF]) + message[:FF_DATA]]
    rest = message[FF_DATA:]
    seq = 1
    while rest:
        piece, rest = rest[:CF_DATA], rest[CF_DATA:]
        frames.append(bytes([0x20 | seq]) + piece.ljust(CF_DATA, bytes([padding])))
        seq = (seq + 1) & 0x0F
    return frames


def render_can(can_id: int, message: bytes, display: Display, padding: int) -> list[str]:
    """The lines an ELM327 prints for one CAN message from `can_id`."""
    frames = can_frames(message, padding)
    if can_id > 0x7FF:  # 29-bit: four bytes, printed like data (`18 DA F1 10 `)
        header = _hex(can_id.to_bytes(4, "big"), display.spaces)
    else:
        header = f"{can_id:03X}" + (" " if display.spaces else "")
    if not display.caf:
        # Auto-formatting off: every frame raw, PCI and padding included.
        return [(header if display.headers else "") + _hex(f, display.spaces) for f in frames]
    if display.headers:
        # Single frames are trimmed to the PCI length; multi-frame frames shown whole.
        if len(frames) == 1:
            return [header + _hex(frames[0][: 1 + len(message)], display.spaces)]
        return [header + _hex(f, display.spaces) for f in frames]
    if len(frames) == 1:
        return [_hex(message, display.spaces)]
    sep = ": " if display.spaces else ":"
    lines = [f"{len(message):03X}"]
    lines.append(f"0{sep}" + _hex(frames[0][2:], display.spaces))
    # The line index is the ISO-TP sequence number (one hex digit, wraps after F).
    lines += [f"{f[0] & 0x0F:X}{sep}" + _hex(f[1:], display.spaces) for f in frames[1:]]
    return lines


def iso_frame(source: int, message: bytes) -> bytes:
    """ISO 9141-2 reply frame: 48 6B <source> data... <checksum = sum mod 256>."""
    body = bytes([0x48, 0x6B, source]) + message
    return body + bytes([sum(body) & 0xFF])


def kwp_frame(source: int, message: bytes) -> bytes:
    """ISO 14230-4 (KWP2000) reply frame: 8L F1 <source> data... <checksum>, L = data length."""
    body = bytes([0x80 | len(message), 0xF1, source]) + message
    return body + bytes([sum(body) & 0xFF])


def j1850_crc(data: bytes) -> int:
    """SAE J1850's CRC-8: polynomial x^8+x^4+x^3+x^2+1 (0x1D), initial 0xFF, result
    inverted. Written from the standard's definition for this simulator."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def j1850_frame(protocol: int, source: int, message: bytes) -> bytes:
    """SAE J1850 reply frame: priority/type byte (41 on PWM, 48 on VPW), 6B (the tester),
    <source>, data..., CRC-8."""
    body = bytes([0x41 if protocol == 1 else 0x48, 0x6B, source]) + message
    return body + bytes([j1850_crc(body)])


def render_legacy(protocol: int, source: int, message: bytes, display: Display) -> list[str]:
    """One J1850 (1, 2), ISO 9141-2 (3) or KWP2000 (4, 5) message as the adapter prints it."""
    if display.headers:
        if protocol in (1, 2):
            frame = j1850_frame(protocol, source, message)
        else:
            frame = iso_frame(source, message) if protocol == 3 else kwp_frame(source, message)
        return [_hex(frame, display.spaces)]
    return [_hex(message, display.spaces)]
