"""QR pairing payloads, GATT characteristic choice, dongle URLs."""

from __future__ import annotations

import pytest

from drivers.obd2.errors import BadURL, PairingError
from drivers.obd2.pairing import PREFIX, DonglePairing, format_pairing, parse_pairing
from drivers.obd2.transports import BleTransport, SerialTransport, TcpTransport, transport_for_url
from drivers.obd2.transports.gatt import CharInfo, pick_characteristics


def test_pairing_round_trip_and_url() -> None:
    p = DonglePairing("AA:BB:CC:DD:EE:01", "fff0", "Bay 3; Vgate", "3")
    text = format_pairing(p)
    assert text.startswith(PREFIX + "v1;")
    assert parse_pairing(text) == p
    assert p.url == "ble://AA:BB:CC:DD:EE:01?layout=fff0"


def test_pairing_minimal_and_lenient_case() -> None:
    assert parse_pairing("BAYGATE:DONGLE:v1;addr=aa-bb-cc-dd-ee-ff;extra=ignored") == DonglePairing(
        "AA:BB:CC:DD:EE:FF"
    )


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com",
        "BAYGATE:DONGLE:v2;addr=AA:BB:CC:DD:EE:FF",
        "BAYGATE:DONGLE:v1;layout=fff0",
        "BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE",
        "BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE:FF;layout=zzzz",
        "BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE:FF;novalue",
        "BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE:FF;name=" + "x" * 600,
    ],
)
def test_bad_pairing_payloads(text: str) -> None:
    with pytest.raises(PairingError):
        parse_pairing(text)


def _u(x: str) -> str:
    return f"0000{x}-0000-1000-8000-00805f9b34fb"


def _c(service: str, uuid: str, *props: str) -> CharInfo:
    return CharInfo(service, uuid, frozenset(props))


def test_pick_by_property_in_a_vendor_service() -> None:
    chars = [
        _c(_u("180a"), _u("2a29"), "read"),
        _c(_u("abcd"), _u("abc1"), "notify"),
        _c(_u("abcd"), _u("abc2"), "write-without-response"),
    ]
    picked = pick_characteristics(chars)
    assert picked is not None
    assert (picked[0].uuid, picked[1].uuid) == (_u("abc1"), _u("abc2"))


def test_known_layout_wins_over_another_candidate_service() -> None:
    chars = [
        _c(_u("abcd"), _u("abc1"), "notify", "write"),
        _c(_u("fff0"), _u("fff1"), "notify"),
        _c(_u("fff0"), _u("fff2"), "write"),
    ]
    picked = pick_characteristics(chars)
    assert picked is not None and picked[0].uuid == _u("fff1") and picked[1].uuid == _u("fff2")
    preferred = pick_characteristics(chars, prefer="abcd")
    assert preferred is not None  # an unknown preference falls back to the known order


def test_hm10_single_characteristic_both_ways() -> None:
    picked = pick_characteristics([_c(_u("ffe0"), _u("ffe1"), "notify", "write-without-response")])
    assert picked is not None and picked[0] == picked[1]


def test_nothing_suitable() -> None:
    assert pick_characteristics([_c(_u("180a"), _u("2a29"), "read")]) is None


def test_urls() -> None:
    t = transport_for_url("tcp://192.168.0.10:35000")
    assert isinstance(t, TcpTransport) and t.port == 35000
    s = transport_for_url("serial:///dev/ttyUSB0?baud=38400")
    assert isinstance(s, SerialTransport) and s.baud == 38400 and s.device == "/dev/ttyUSB0"
    b = transport_for_url("ble://aa:bb:cc:dd:ee:ff?layout=nus")
    assert isinstance(b, BleTransport) and b.address == "AA:BB:CC:DD:EE:FF" and b.layout == "nus"
    n = transport_for_url("ble://name=OBDII&layout=ffe0")
    assert isinstance(n, BleTransport) and n.name == "OBDII" and n.layout == "ffe0"


@pytest.mark.parametrize(
    "url", ["http://x", "tcp://host", "tcp://:35000", "serial://ttyUSB0", "ble://", "ble://name=", "nonsense"]
)
def test_wrong_urls_are_clear_errors(url: str) -> None:
    with pytest.raises(BadURL):
        transport_for_url(url)
