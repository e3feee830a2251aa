"""Canned ELM327 replies through the sans-IO path: framing, headers, ISO-TP, status words."""

from __future__ import annotations

import pytest

from drivers.obd2.elm327 import PromptBuffer, encode_command, reply_lines
from drivers.obd2.errors import (
    BufferFull,
    BusInitError,
    CanError,
    NegativeResponse,
    NoData,
    ProtocolError,
    Stopped,
    Truncated,
    UnableToConnect,
    UnknownCommand,
)
from drivers.obd2.frames import Framing, framing_for_protocol, parse_messages
from drivers.obd2.reply import parse_reply, request_text

VIN_CAN = "7E8 10 14 49 02 01 31 46 54\r7E8 21 46 57 31 45 54 39 44\r7E8 22 46 43 31 30 33 31 32\r"


def test_prompt_buffer_reassembles_chunks_and_strips_nuls() -> None:
    buf = PromptBuffer()
    assert buf.feed(b"41 0C\x00 1A") == []
    assert buf.feed(b" F8\r\r>OK\r") == ["41 0C 1A F8\r\r"]
    assert buf.pending == "OK\r"
    assert buf.feed(b"\r>") == ["OK\r\r"]


def test_prompt_buffer_limit_is_a_protocol_error() -> None:
    buf = PromptBuffer(limit=16)
    with pytest.raises(ProtocolError):
        buf.feed(b"4" * 40)


def test_encode_command_refuses_injection() -> None:
    assert encode_command("010C1") == b"010C1\r"
    with pytest.raises(ValueError):
        encode_command("ATZ\rATMA")


def test_reply_lines_drop_echo_searching_and_empty() -> None:
    raw = "0100\rSEARCHING...\r7E8 06 41 00 BE 3E B8 11\r\r"
    assert reply_lines(raw, "0100") == ["7E8 06 41 00 BE 3E B8 11"]
    assert reply_lines("010C1\r41 0C 1A F8\r", "010C1") == ["41 0C 1A F8"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("NO DATA", NoData),
        ("CAN ERROR", CanError),
        ("BUS INIT: ...ERROR", BusInitError),
        ("UNABLE TO CONNECT", UnableToConnect),
        ("?", UnknownCommand),
        ("SEARCHING...\rUNABLE TO CONNECT", UnableToConnect),
    ],
)
def test_status_words_are_typed_errors(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        reply_lines(text + "\r\r", "0100")


def test_buffer_full_and_stopped_raise_even_with_data() -> None:
    with pytest.raises(BufferFull):
        reply_lines("7E8 03 41 0D 32\rBUFFER FULL\r")
    with pytest.raises(Stopped):
        reply_lines("7E8 03 41 0D 32\rSTOPPED\r")


def test_single_frames_from_two_ecus_are_kept_per_ecu() -> None:
    raw = "7E8 06 41 00 BE 3E B8 11\r7E9 06 41 00 98 18 00 01\r"
    reply = parse_reply(raw, "0100", 0x01, Framing.CAN11)
    assert reply.ecus == ["7E8", "7E9"]
    assert reply.by_ecu["7E9"] == [bytes.fromhex("410098180001")]


def test_headers_on_iso_tp_multi_frame_vin() -> None:
    reply = parse_reply(VIN_CAN, "0902", 0x09, Framing.CAN11)
    assert reply.by_ecu["7E8"][0][3:] == b"1FTFW1ET9DFC10312"


def test_multi_frame_without_spaces_ats0() -> None:
    raw = VIN_CAN.replace(" ", "")
    assert parse_reply(raw, "0902", 0x09, Framing.CAN11).by_ecu["7E8"][0][3:] == b"1FTFW1ET9DFC10312"


def test_interleaved_multi_frame_replies_from_two_ecus() -> None:
    lines = [
        "7E8 10 13 49 04 01 35 36 30",
        "7E9 10 13 49 04 01 35 36 30",
        "7E8 21 32 38 39 34 39 41 43",
        "7E9 21 32 38 39 35 34 41 43",
        "7E8 22 00 00 00 00 00 00 31",
        "7E9 22 00 00 00 00 00 00 00",
    ]
    msgs = parse_messages(lines, Framing.CAN11)
    assert [m.ecu for m in msgs] == ["7E8", "7E9"]
    assert msgs[0].data[3:11] == b"56028949"
    assert len(msgs[1].data) == 0x13


def test_elm_multiline_format_with_headers_off() -> None:
    raw = "014\r0: 49 02 01 31 44 34\r1: 47 50 30 30 52 35 35\r2: 42 31 32 33 34 35 36\r"
    reply = parse_reply(raw, "0902", 0x09, Framing.HEADERLESS_CAN)
    assert reply.by_ecu["ECU"][0][3:] == b"1D4GP00R55B123456"


def test_batched_pid_reply_in_multiline_format() -> None:
    raw = "00A\r0: 41 04 3F 05 44 0B\r1: 21 0C 17 B8 00 00 00\r"
    msg = parse_reply(raw, "0104050B0C", 0x01, Framing.HEADERLESS_CAN).by_ecu["ECU"][0]
    assert msg == bytes.fromhex("41043F05440B210C17B8")


def test_truncated_multi_frame_is_typed() -> None:
    with pytest.raises(Truncated):
        parse_reply(VIN_CAN.split("\r", 1)[0], "0902", 0x09, Framing.CAN11)


def test_out_of_sequence_consecutive_frame() -> None:
    lines = VIN_CAN.split("\r")
    with pytest.raises(ProtocolError):
        parse_reply("\r".join([lines[0], lines[2]]), "0902", 0x09, Framing.CAN11)


def test_negative_response_is_an_error_not_data() -> None:
    # python-OBD decoded `7F 01 12` as 1152 rpm.
    with pytest.raises(NegativeResponse) as err:
        parse_reply("7E8 03 7F 01 12\r", "010C", 0x01, Framing.CAN11)
    assert (err.value.service, err.value.nrc, err.value.ecu) == (0x01, 0x12, "7E8")


def test_negative_from_one_ecu_positive_from_another() -> None:
    reply = parse_reply("7E9 03 7F 09 31\r7E8 03 49 0A 01\r", "090A", 0x09, Framing.CAN11)
    assert reply.ecus == ["7E8"]
    assert reply.negatives["7E9"].nrc == 0x31


def test_response_pending_then_answer() -> None:
    reply = parse_reply("7E8 03 7F 02 78\r7E8 05 42 02 00 03 01\r", "020200", 0x02, Framing.CAN11)
    assert reply.by_ecu["7E8"] == [bytes.fromhex("4202000301")]


def test_legacy_frames_with_checksum() -> None:
    line = "48 6B 10 41 0C 1A F8"
    checksum = sum(bytes.fromhex(line)) & 0xFF
    reply = parse_reply(f"{line} {checksum:02X}\r", "010C", 0x01, Framing.LEGACY)
    assert reply.by_ecu == {"10": [bytes.fromhex("410C1AF8")]}
    with pytest.raises(ProtocolError):
        parse_reply(f"{line} {(checksum + 1) & 0xFF:02X}\r", "010C", 0x01, Framing.LEGACY)


def test_reply_for_another_service_is_not_ours() -> None:
    with pytest.raises(ProtocolError):
        parse_reply("7E8 03 41 0D 32\r", "0902", 0x09, Framing.CAN11)


def test_request_text_and_framing_for_protocol() -> None:
    assert request_text(0x01, bytes([0x0C, 0x0D]), 1) == "010C0D1"
    assert request_text(0x03) == "03"
    assert request_text(0x01, b"\x0c", 16) == "010C"  # one hex digit only
    assert framing_for_protocol("A6") is Framing.CAN11
    assert framing_for_protocol("7") is Framing.CAN29
    assert framing_for_protocol("3") is Framing.LEGACY
    assert framing_for_protocol("6", headers=False) is Framing.HEADERLESS_CAN


def test_can29_headers() -> None:
    reply = parse_reply("18DAF110 03 41 0D 32\r", "010D", 0x01, Framing.CAN29)
    assert reply.by_ecu == {"18DAF110": [bytes.fromhex("410D32")]}
