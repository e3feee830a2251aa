"""Hypothesis fuzz of the reply parser: corrupted, truncated and interleaved replies
give typed OBDErrors (or data), never an uncaught exception of another kind."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.obd2.dtc import decode_dtc_messages
from drivers.obd2.elm327 import PromptBuffer
from drivers.obd2.errors import OBDError
from drivers.obd2.frames import Framing
from drivers.obd2.pids import decode_batch
from drivers.obd2.readiness import decode_readiness
from drivers.obd2.reply import parse_reply
from drivers.obd2.vin import decode_calibration_ids, decode_vin

VALID = [
    ("0100", 0x01, "7E8 06 41 00 BE 3E B8 11\r7E9 06 41 00 98 18 00 01\r"),
    ("0902", 0x09, "7E8 10 14 49 02 01 31 46 54\r7E8 21 46 57 31 45 54 39 44\r7E8 22 46 43 31 30 33 31 32\r"),
    ("03", 0x03, "7E8 06 43 02 01 33 03 01\r7E9 02 43 00\r"),
    ("010C0D", 0x01, "7E8 06 41 0C 1A F8 0D 32\r"),
    ("0902", 0x09, "014\r0: 49 02 01 31 44 34\r1: 47 50 30 30 52 35 35\r2: 42 31 32 33 34 35 36\r"),
    ("0101", 0x01, "SEARCHING...\r7E8 06 41 01 82 07 65 04\r"),
]
FRAMINGS = list(Framing)

_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _consume(text: str, sent: str, service: int, framing: Framing) -> None:
    try:
        reply = parse_reply(text, sent, service, framing)
        for msgs in reply.by_ecu.values():
            for m in msgs:
                if service == 0x01:
                    for pid, data in decode_batch(m[1:]):
                        pid.value(data)
                    if len(m) == 6 and m[1] == 1:
                        decode_readiness(m[2:6])
                elif service == 0x09:
                    decode_vin([m])
                    decode_calibration_ids([m])
                else:
                    decode_dtc_messages([m])
    except OBDError:
        pass


@_settings
@given(
    st.sampled_from(VALID),
    st.sampled_from(FRAMINGS),
    st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=0, max_size=4)), max_size=6),
    st.integers(0, 400),
)
def test_corrupted_and_truncated_replies(
    case: tuple[str, int, str], framing: Framing, edits: list[tuple[int, bytes]], cut: int
) -> None:
    sent, service, text = case
    raw = bytearray(text.encode())
    for where, junk in edits:
        pos = min(where, len(raw))
        raw[pos : pos + len(junk)] = junk
    raw = raw[: max(cut, 1)] if cut < len(raw) else raw
    buf = PromptBuffer()
    try:
        replies = buf.feed(bytes(raw) + b">")
    except OBDError:
        return
    for reply in replies:
        _consume(reply, sent, service, framing)


@_settings
@given(st.permutations(VALID[1][2].split("\r")[:3] + VALID[0][2].split("\r")[:2]), st.sampled_from(FRAMINGS))
def test_interleaved_lines(lines: list[str], framing: Framing) -> None:
    _consume("\r".join(lines) + "\r", "0902", 0x09, framing)


@_settings
@given(st.text(alphabet="0123456789ABCDEF :\r\n>?.NODATSRCHIGEV", max_size=200), st.sampled_from(FRAMINGS))
def test_arbitrary_adapter_text(text: str, framing: Framing) -> None:
    _consume(text, "010C", 0x01, framing)
    _consume(text, "03", 0x03, framing)
