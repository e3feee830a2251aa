"""Adapter personalities, sans-IO: what each refuses and how it prints (issue 14 item 2)."""

from __future__ import annotations

import pytest

from simulators.elm327 import ADAPTERS, Elm327, Simulation, load_profile
from simulators.elm327.timing import Chunk, Reply


def _elm(adapter: str) -> Elm327:
    sim = Simulation.build("petrol-can", adapter=adapter, clock=lambda: 0.0)
    return sim.session().engine


def _ask(elm: Elm327, cmd: str) -> bytes:
    (reply,) = elm.feed(cmd.encode() + b"\r")
    return reply.data


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_banner_and_the_commands_every_adapter_takes(adapter: str) -> None:
    elm = _elm(adapter)
    assert ADAPTERS[adapter].banner.encode() in _ask(elm, "ATI")
    for cmd in ("ATZ", "ATE0", "ATL0", "ATSP0", "ATDPN"):
        assert b"?" not in _ask(elm, cmd), cmd


def test_clone_v21_refuses_the_optional_commands() -> None:
    elm = _elm("clone-v2.1")
    for cmd in ("ATWS", "ATSPA6", "ATSP A6", "ATAT1", "ATAT2", "ATCAF0", "ATST19"):
        assert _ask(elm, cmd).startswith(cmd.encode() + b"\r?"), cmd  # echo is still on
    assert b"OK" in _ask(elm, "ATAT0") and b"OK" in _ask(elm, "ATSH7E0")


def test_clone_v15_refuses_only_auto_from() -> None:
    elm = _elm("clone-v1.5")
    assert b"?" in _ask(elm, "ATSPA6")
    assert b"ELM327 v1.5" in _ask(elm, "ATWS") and b"OK" in _ask(elm, "ATAT1")


def test_echo_stuck_and_headers_refused() -> None:
    elm = _elm("echo-stuck")
    assert _ask(elm, "ATE0") == b"ATE0\rOK\r\r>"
    assert _ask(elm, "ATL0") == b"ATL0\rOK\r\r>"  # still echoed
    elm = _elm("headers-refused")
    _ask(elm, "ATE0")
    assert _ask(elm, "ATH1") == b"?\r\r>"
    assert _ask(elm, "0100").startswith(b"SEARCHING...\r41 00 ")  # no header


def test_crlf_and_nul_before_the_prompt() -> None:
    elm = _elm("crlf-nul")
    _ask(elm, "ATE0")
    assert _ask(elm, "ATL0") == b"OK\r\n\r\n\x00>"


def test_stn_answers_sti_and_an_elm_clone_does_not() -> None:
    assert _ask(_elm("stn2120"), "STI") == b"STI\rSTN2120 v5.6.19\r\r>"
    assert _ask(_elm("stn2120"), "STDI") == b"STDI\rOBDLink MX+ r1.2\r\r>"
    assert _ask(_elm("genuine-v1.4b"), "STI") == b"STI\r?\r\r>"


def test_ble_dribble_cuts_replies_into_small_timed_pieces() -> None:
    sim = Simulation.build(load_profile("petrol-can"), adapter="ble-dribble")
    session = sim.session()
    reply = Reply("0100", (Chunk(0.0, bytes(range(65, 65 + 60)) + b">"),), obd=True)
    pieces = session.shaper.shape(reply)
    assert all(isinstance(p, Chunk) and 1 <= len(p.data) <= 20 for p in pieces)
    assert len(pieces) >= 3
    assert all(p.delay_s == pytest.approx(0.001) for p in pieces[1:])  # type: ignore[union-attr]
    assert b"".join(p.data for p in pieces) == reply.data  # type: ignore[union-attr]


def test_genuine_v12_has_no_count_digit_and_no_ats() -> None:
    elm = _elm("genuine-v1.2")
    _ask(elm, "ATE0")
    assert _ask(elm, "ATS0") == b"?\r\r>"
    assert _ask(elm, "010C1") == b"?\r\r>"
    assert _ask(elm, "010C").startswith(b"SEARCHING...\r41 0C ")
