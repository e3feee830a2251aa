"""ISO-TP segmentation and the adapter's display round-trip for any message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulators.elm327.framing import Display, can_frames, iso_frame, kwp_frame, render_can, render_legacy


def reassemble(lines: list[str], display: Display) -> bytes:
    """An independent reader of the adapter's CAN output (what a driver must do)."""
    clean = [ln.replace(" ", "") for ln in lines]
    if display.headers or not display.caf:
        frames = [bytes.fromhex(ln[3:] if display.headers else ln) for ln in clean]
        if frames[0][0] >> 4 == 0:
            return frames[0][1 : 1 + frames[0][0]]
        size = ((frames[0][0] & 0x0F) << 8) | frames[0][1]
        return (frames[0][2:] + b"".join(f[1:] for f in frames[1:]))[:size]
    if len(clean) == 1:
        return bytes.fromhex(clean[0])
    size = int(clean[0], 16)
    return b"".join(bytes.fromhex(ln.split(":", 1)[1]) for ln in clean[1:])[:size]


@given(
    st.binary(min_size=1, max_size=120),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 255),
)
def test_can_display_round_trips(message: bytes, headers: bool, spaces: bool, caf: bool, pad: int) -> None:
    display = Display(headers=headers, spaces=spaces, caf=caf)
    lines = render_can(0x7E8, message, display, pad)
    assert reassemble(lines, display) == message
    assert all(len(f) == 8 for f in can_frames(message, pad))
    if headers:
        assert all(ln.startswith("7E8") for ln in lines)


def test_consecutive_frame_numbers_wrap_after_f() -> None:
    frames = can_frames(bytes(range(6 + 7 * 17)), 0)
    assert [f[0] for f in frames[1:]] == [0x21 + i for i in range(15)] + [0x20, 0x21]


@given(st.binary(min_size=1, max_size=7), st.integers(0, 255))
def test_legacy_frames_carry_header_and_checksum(message: bytes, source: int) -> None:
    iso = iso_frame(source, message)
    kwp = kwp_frame(source, message)
    assert iso[:3] == bytes([0x48, 0x6B, source]) and iso[3:-1] == message
    assert kwp[:3] == bytes([0x80 | len(message), 0xF1, source]) and kwp[3:-1] == message
    for frame in (iso, kwp):
        assert frame[-1] == sum(frame[:-1]) & 0xFF
    shown = render_legacy(5, source, message, Display(headers=True, spaces=True))
    assert bytes.fromhex(shown[0]) == kwp
