"""The sans-IO adapter: command bytes in, reply bytes and timing out. No sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.elm327 import Elm327, Quirks, Timing, load_profile
from simulators.elm327.timing import Reply


def adapter(
    profile: str = "petrol-can", timing: Timing | None = None, quirks: Quirks | None = None
) -> Elm327:
    return Elm327(load_profile(profile), timing or Timing(), quirks, clock=lambda: 0.0)


def ask(elm: Elm327, command: str) -> Reply:
    (reply,) = elm.feed(command.encode() + b"\r")
    return reply


def text(elm: Elm327, command: str) -> str:
    return ask(elm, command).data.decode()


def quiet(profile: str = "petrol-can", *setup: str) -> Elm327:
    elm = adapter(profile)
    for cmd in ("ATE0", *setup):
        ask(elm, cmd)
    return elm


def test_reset_banner_and_identity() -> None:
    elm = adapter()
    assert text(elm, "ATZ") == "ATZ\r\r\rELM327 v1.5\r\r>"
    assert text(elm, "ATE0") == "ATE0\rOK\r\r>"
    assert text(elm, "ATI") == "ELM327 v1.5\r\r>"
    assert text(elm, "AT@1") == "OBDII to RS232 Interpreter\r\r>"
    assert text(elm, "ATRV").endswith("V\r\r>")
    assert 13.5 < float(text(elm, "ATRV").split("V")[0]) < 14.5
    assert text(elm, "ATXYZ") == "?\r\r>"
    assert text(elm, "STI") == "?\r\r>"


def test_reset_restores_echo_and_costs_reset_time() -> None:
    elm = adapter(timing=Timing(reset_ms=1000))
    ask(elm, "ATE0")
    reply = ask(elm, "ATZ")
    assert reply.duration_s == pytest.approx(1.0)
    assert text(elm, "ATI").startswith("ATI\r")  # echo is back on after a reset
    assert ask(elm, "ATWS").duration_s == pytest.approx(0.25)


def test_commands_are_case_and_space_insensitive_and_lf_is_ignored() -> None:
    elm = quiet()
    (reply,) = elm.feed(b"at  sp 6\r\n")
    assert reply.data == b"OK\r\r>"
    assert text(elm, "atdpn") == "6\r\r>"


def test_linefeeds_spaces_headers() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATSH7E0")
    assert text(elm, "010D") == "41 0D 30 \r\r>"  # a 0..96 km/h sine starts at its midpoint, 48 = 0x30
    ask(elm, "ATL1")
    assert text(elm, "010D") == "41 0D 30 \r\n\r\n>"
    ask(elm, "ATL0")
    ask(elm, "ATS0")
    assert text(elm, "010D") == "410D30\r\r>"
    ask(elm, "ATH1")
    assert text(elm, "010D") == "7E803410D30\r\r>"
    ask(elm, "ATS1")
    assert text(elm, "010D") == "7E8 03 41 0D 30 \r\r>"


def test_protocol_auto_search_then_describe() -> None:
    elm = quiet("petrol-can", "ATSP0")
    assert text(elm, "ATDP") == "AUTO\r\r>"
    reply = ask(elm, "0100")
    assert reply.data.startswith(b"SEARCHING...\r")
    assert text(elm, "ATDPN") == "A6\r\r>"
    assert text(elm, "ATDP") == "AUTO, ISO 15765-4 (CAN 11/500)\r\r>"
    assert not ask(elm, "0100").data.startswith(b"SEARCHING")  # found once, kept


def test_sp_is_saved_across_reset_tp_is_not() -> None:
    elm = quiet("petrol-can", "ATSP6")
    ask(elm, "ATZ")
    ask(elm, "ATE0")
    assert text(elm, "ATDPN") == "6\r\r>"
    ask(elm, "ATTP3")
    assert text(elm, "ATDPN") == "3\r\r>"
    ask(elm, "ATZ")
    ask(elm, "ATE0")
    assert text(elm, "ATDPN") == "6\r\r>"
    assert text(elm, "ATSPD") == "?\r\r>"


@pytest.mark.parametrize(
    ("protocol", "word"), [("6", "CAN ERROR"), ("3", "BUS INIT: ...ERROR"), ("1", "NO DATA")]
)
def test_wrong_fixed_protocol_errors(protocol: str, word: str) -> None:
    car = "iso9141-legacy" if protocol == "6" else "petrol-can"
    elm = quiet(car, f"ATSP{protocol}")
    reply = ask(elm, "0100")
    assert word in reply.data.decode()
    assert reply.error


def test_bare_cr_repeats_last_command() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATH1")
    first = ask(elm, "0105").data
    (again,) = elm.feed(b"\r")
    assert again.data == first
    assert again.command == "0105"


def test_multi_ecu_and_header_targeting() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATH1")
    lines = text(elm, "010D").split("\r")
    assert [ln[:3] for ln in lines if ln[:1] == "7"] == ["7E8", "7E9"]
    ask(elm, "ATSH7E1")
    lines = text(elm, "010D").split("\r")
    assert [ln[:3] for ln in lines if ln[:1] == "7"] == ["7E9"]


def test_six_pids_in_one_request_and_count_digit() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATH1")
    lines = [ln for ln in text(elm, "010C0D05040B113").split("\r") if ln.startswith("7E8")]
    assert len(lines) == 3  # 14 bytes: first frame (6) + 2 consecutive frames (7 + 1)
    frames = [bytes.fromhex(ln[4:]) for ln in lines]
    assert frames[0][0] == 0x10  # a 14-byte answer needs ISO-TP multi-frame
    size = frames[0][1]
    payload = (frames[0][2:] + b"".join(f[1:] for f in frames[1:]))[:size]
    assert payload[0] == 0x41
    pids, i = [], 1
    sizes = {0x0C: 2, 0x0D: 1, 0x05: 1, 0x04: 1, 0x0B: 1, 0x11: 1}
    while i < len(payload):
        pids.append(payload[i])
        i += 1 + sizes[payload[i]]
    assert pids == [0x0C, 0x0D, 0x05, 0x04, 0x0B, 0x11]
    # The count digit counts frames ("lines"): 1 stops after the first frame.
    assert [ln[:6] for ln in text(elm, "010C0D05040B111").split("\r") if ln[:1] == "7"] == ["7E8 10"]
    # 7 PIDs do not fit one CAN single frame request: the adapter refuses.
    assert text(elm, "010C0D05040B1110") == "?\r\r>"


def test_count_digit_skips_the_st_wait() -> None:
    timing = Timing(rtt_ms=30, ecu_ms=15, frame_ms=1)
    elm = adapter(timing=timing)
    for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
        ask(elm, cmd)
    assert ask(elm, "010C").duration_s == pytest.approx(0.030 + 0.015 + 0.200)
    assert ask(elm, "010C1").duration_s == pytest.approx(0.030 + 0.015)
    ask(elm, "ATST19")  # 25 x 4 ms
    assert ask(elm, "010C").duration_s == pytest.approx(0.030 + 0.015 + 0.100)
    ask(elm, "ATST00")  # back to the default, not zero
    assert ask(elm, "010C").duration_s == pytest.approx(0.245)
    # Asking for more answers than come still waits ATST after the last one.
    assert ask(elm, "010C2").duration_s == pytest.approx(0.245)


def test_no_answer_is_no_data_after_st() -> None:
    elm = adapter(timing=Timing(rtt_ms=10))
    for cmd in ("ATE0", "ATSP6"):
        ask(elm, cmd)
    reply = ask(elm, "0160")  # nobody supports PIDs 61-80
    assert reply.data == b"NO DATA\r\r>"
    assert reply.duration_s == pytest.approx(0.010 + 0.200)


def test_freeze_frame_needs_the_frame_number() -> None:
    elm = quiet("petrol-can", "ATSP6")
    assert text(elm, "020C") == "NO DATA\r\r>"
    assert text(elm, "020C00") == "42 0C 00 21 98 \r\r>"  # 2150 rpm x 4 = 0x2198
    assert text(elm, "020200") == "42 02 00 03 01 \r\r>"  # frozen by P0301
    assert text(elm, "020C01") == "NO DATA\r\r>"  # no frame 1


def test_dtc_lists_with_can_count_byte() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATH1")
    assert text(elm, "03") == "7E8 06 43 02 03 01 01 33 \r7E9 02 43 00 \r\r>"
    assert text(elm, "07") == "7E8 04 47 01 04 20 \r7E9 04 47 01 07 41 \r\r>"
    assert text(elm, "0A") == "7E8 04 4A 01 03 01 \r7E9 02 4A 00 \r\r>"


def test_clear_codes_is_refused_while_the_engine_runs() -> None:
    elm = adapter(quirks=Quirks(refuse_clear_running=True))
    for cmd in ("ATE0", "ATSP6", "ATH1"):
        ask(elm, cmd)
    assert text(elm, "04") == "7E8 03 7F 04 22 \r7E9 03 7F 04 22 \r\r>"  # conditionsNotCorrect
    assert text(elm, "03") == "7E8 06 43 02 03 01 01 33 \r7E9 02 43 00 \r\r>"  # untouched


def test_clear_codes_keeps_permanent_ones_and_turns_mil_off() -> None:
    elm = adapter(quirks=Quirks(engine_off=True))  # ignition on, engine off
    for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
        ask(elm, cmd)
    assert text(elm, "010C") == "41 0C 00 00 \r\r>"  # 0 rpm
    assert text(elm, "0101").startswith("41 01 82")  # MIL on, 2 DTCs
    assert text(elm, "04") == "44 \r\r>"
    assert text(elm, "03") == "43 00 \r\r>"
    assert text(elm, "0A") == "4A 01 03 01 \r\r>"
    assert text(elm, "0101").startswith("41 01 00")
    assert text(elm, "020C00") == "NO DATA\r\r>"


def test_unsupported_service_is_a_negative_response() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATH1")
    assert text(elm, "0800") == "7E8 03 7F 08 11 \r\r>"


def test_negative_response_for_unsupported_pid_from_second_ecu() -> None:
    elm = quiet("diesel-can", "ATSP6", "ATH1")
    lines = text(elm, "010C").split("\r")
    assert "7E9 03 7F 01 12 " in lines
    assert any(ln.startswith("7E8 04 41 0C") for ln in lines)


def test_vin_headers_off_is_formatted_like_a_real_adapter() -> None:
    elm = quiet("petrol-can", "ATSP6")
    assert text(elm, "0902") == (
        "014\r0: 49 02 01 31 46 54 \r1: 46 57 31 45 54 39 44 \r2: 46 43 31 30 33 31 32 \r\r>"
    )
    ask(elm, "ATS0")
    assert text(elm, "0902").startswith("014\r0:490201314654\r1:")


def test_can_auto_formatting_off_shows_raw_frames() -> None:
    elm = quiet("petrol-can", "ATSP6", "ATSH7E0", "ATCAF0")
    assert text(elm, "010D") == "03 41 0D 30 55 55 55 55 \r\r>"


def test_legacy_iso9141_headers_checksum_and_dtc_frames() -> None:
    elm = quiet("iso9141-legacy", "ATSP3", "ATH1")
    reply = ask(elm, "010D")
    lines = reply.data.decode().split("\r")
    assert lines[0] == "BUS INIT: ...OK"
    frame = bytes.fromhex(lines[1])
    assert frame[:3] == b"\x48\x6b\x10"
    assert frame[-1] == sum(frame[:-1]) & 0xFF
    assert frame[3:5] == b"\x41\x0d"
    ask(elm, "ATH0")
    # No count byte, three DTCs per message, zero padded.
    assert text(elm, "03") == "43 01 71 03 00 04 20 \r43 04 42 00 00 00 00 \r\r>"
    assert text(elm, "07") == "47 00 00 00 00 00 00 \r\r>"
    # One PID per request on ISO 9141-2: extra PIDs are ignored.
    assert text(elm, "010C0D").startswith("41 0C ")
    assert "0D" not in text(elm, "010C0D").split("\r")[0][6:]


def test_legacy_vin_comes_in_five_numbered_messages() -> None:
    elm = quiet("iso9141-legacy", "ATSP3")
    lines = [bytes.fromhex(ln) for ln in text(elm, "0902").split("\r")[1:] if ln.strip(" >")]
    assert [m[2] for m in lines] == [1, 2, 3, 4, 5]
    assert b"".join(m[3:] for m in lines).lstrip(b"\x00").decode() == "JT2BG22K9W0123456"


def test_quirks_echo_sticks_h1_refused_no_prompt() -> None:
    elm = adapter(quirks=Quirks(echo_sticks=True, h1_not_ok=True, no_prompt_after_error=True))
    assert text(elm, "ATE0") == "ATE0\rOK\r\r>"
    assert text(elm, "ATH1") == "ATH1\r?\r\r"  # no prompt after an error either
    assert text(elm, "ATSP6") == "ATSP6\rOK\r\r>"
    assert text(elm, "ATSH7E0") == "ATSH7E0\rOK\r\r>"
    assert text(elm, "010D") == "010D\r41 0D 30 \r\r>"  # echo still on, no header


def test_nodata_bursts() -> None:
    elm = adapter(quirks=Quirks(nodata_burst=3))
    for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
        ask(elm, cmd)
    answers = [text(elm, "010D") for _ in range(20)]
    nodata = [i + 1 for i, a in enumerate(answers) if a == "NO DATA\r\r>"]
    assert nodata == [8, 9, 10, 18, 19, 20]


def test_partial_lines_and_several_commands_in_one_write() -> None:
    elm = adapter()
    assert elm.feed(b"ATE") == []
    replies = elm.feed(b"0\rATI\rATS")
    assert [r.data for r in replies] == [b"ATE0\rOK\r\r>", b"ELM327 v1.5\r\r>"]
    assert [r.data for r in elm.feed(b"0\r")] == [b"OK\r\r>"]


def test_bad_hex_and_bad_count_digit() -> None:
    elm = quiet("petrol-can", "ATSP6")
    assert text(elm, "01GG") == "?\r\r>"
    assert text(elm, "010C0") == "?\r\r>"


def test_count_digit_counts_frames_across_ecus() -> None:
    elm = adapter(timing=Timing(ecu_ms=10, frame_ms=1))
    for cmd in ("ATE0", "ATSP6"):
        ask(elm, cmd)
    # VIN on CAN: 3 frames from the engine ECU -> "09023" is complete with no ST wait.
    full = ask(elm, "09023")
    assert full.data.decode().count(": ") == 3
    assert full.duration_s == pytest.approx(0.010 + 0.002)
    # Two ECUs answer 010D with one frame each: "010D1" shows the engine's only.
    assert text(elm, "010D1").count("41 0D") == 1
    assert text(elm, "010D2").count("41 0D") == 2


@settings(deadline=None, max_examples=150)
@given(st.binary(max_size=200), st.sampled_from(["petrol-can", "diesel-can", "iso9141-legacy"]))
def test_any_input_gets_prompt_terminated_replies(data: bytes, profile: str) -> None:
    elm = Elm327(load_profile(profile), Timing(), clock=lambda: 0.0)
    replies = elm.feed(data + b"\r")
    assert len(replies) == data.count(b"\r") + 1
    for reply in replies:
        assert reply.data.endswith(b">")
        assert reply.data.count(b">") == 1 or b">" in reply.command.encode()
        assert reply.duration_s >= 0


def test_legacy_messages_come_p2_apart() -> None:
    elm = adapter("iso9141-legacy", timing=Timing(ecu_ms=20, iso_gap_ms=25, bus_init_ms=0))
    for cmd in ("ATE0", "ATSP3", "0100"):
        ask(elm, cmd)
    # 5 VIN messages: first after the ECU latency, then 4 P2 gaps; count 5 skips ATST.
    assert ask(elm, "09025").duration_s == pytest.approx(0.020 + 4 * 0.025)


def test_adapter_version_is_configurable() -> None:
    elm = Elm327(load_profile("petrol-can"), version="ELM327 v2.1")
    assert elm.feed(b"ATI\r")[0].data == b"ATI\rELM327 v2.1\r\r>"


def test_searching_is_printed_first_then_the_search_takes_time() -> None:
    elm = adapter(timing=Timing(search_ms=200, ecu_ms=10))
    ask(elm, "ATE0")
    reply = ask(elm, "0100")
    assert reply.chunks[0].data == b"SEARCHING...\r"
    assert reply.chunks[0].delay_s == 0
    # CAN 11/500 is protocol 6: five protocols tried first, then the ECU answers.
    assert reply.chunks[1].delay_s == pytest.approx(5 * 0.200 + 0.010)


def test_auto_with_the_right_default_protocol_does_not_search() -> None:
    elm = adapter(timing=Timing(search_ms=200))
    for cmd in ("ATE0", "ATSPA6"):
        ask(elm, cmd)
    reply = ask(elm, "0100")
    assert not reply.data.startswith(b"SEARCHING")
    assert reply.duration_s == pytest.approx(0.001 + 0.200)  # 7E9 1 ms after 7E8, ATST: no search
    assert text(elm, "ATDPN") == "A6\r\r>"
    elm = adapter(timing=Timing(search_ms=200))
    for cmd in ("ATE0", "ATSPA8"):  # a wrong guess falls back to the search
        ask(elm, cmd)
    assert ask(elm, "0100").data.startswith(b"SEARCHING...\r41 00 ")
    assert text(elm, "ATDPN") == "A6\r\r>"


def test_kwp2000_headers_carry_the_length_and_a_checksum() -> None:
    elm = adapter("kwp-fast", timing=Timing(fast_init_ms=350, bus_init_ms=2600))
    for cmd in ("ATE0", "ATSP5", "ATH1"):
        ask(elm, cmd)
    reply = ask(elm, "010D1")
    first, frame = reply.data.decode().split("\r")[:2]
    assert first == "BUS INIT: ...OK"
    assert reply.chunks[0].delay_s == pytest.approx(0.350)  # fast init, not 5-baud
    raw = bytes.fromhex(frame)
    assert raw[0] == 0x80 | 3 and raw[1:3] == b"\xf1\x10"  # 3 data bytes: 41 0D xx
    assert raw[-1] == sum(raw[:-1]) & 0xFF
    assert text(elm, "ATDP") == "ISO 14230-4 (KWP FAST)\r\r>"
    # Both ECUs answer the pending list, legacy style: no count byte, zero padded.
    assert [ln.split()[2:4] for ln in text(elm, "07").split("\r") if ln.startswith("87")] == [
        ["10", "47"],
        ["18", "47"],
    ]


def test_a_quick_gearbox_answers_before_a_slow_engine() -> None:
    slow = load_profile("diesel-can")
    slow.ecus[0].latency_ms = 12  # a busy engine ECU
    elm = Elm327(slow, Timing(ecu_ms=15, frame_ms=1), clock=lambda: 0.0)
    for cmd in ("ATE0", "ATSP6", "ATH1"):
        ask(elm, cmd)
    reply = ask(elm, "010D")
    lines = [ln[:3] for ln in reply.data.decode().split("\r") if ln[:1] == "7"]
    assert lines == ["7E9", "7E8"]
    assert [c.delay_s for c in reply.chunks[:2]] == pytest.approx([0.015, 0.012])
    # The count digit takes whichever frame comes first: here the gearbox's.
    assert text(elm, "010C1") == "7E9 03 7F 01 12 \r\r>"
