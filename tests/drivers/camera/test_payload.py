"""Payload classification, GS1, serial rules, caps."""

from __future__ import annotations

import pytest

from drivers.camera.errors import CameraError, PayloadError
from drivers.camera.gs1 import gtin_check_ok, parse_digital_link, parse_element_string
from drivers.camera.payload import MAX_PAYLOAD_CHARS, classify
from drivers.camera.serials import SerialRule, apply_transform

ACME = SerialRule(
    manufacturer="acme",
    serial_patterns=(r"AC[0-9]{8}",),
    gs1_company_prefixes=("950600",),
    transform=("strip", "upper", "remove:- "),
    min_length=10,
    max_length=10,
)


def test_dongle_pairing_is_recognised_and_left_to_the_obd_parser() -> None:
    # The camera only recognises the prefix: the sticker format belongs to the OBD
    # driver (drivers/obd2/pairing.py), which the agent applies (one parser, not two).
    c = classify("QRCODE", "BAYGATE:DONGLE:v1;addr=AA:BB:CC:DD:EE:FF;name=Bay%203")
    assert c.kind == "dongle_pairing" and c.fields == {}


def test_job_ticket() -> None:
    c = classify("QRCODE", "BAYGATE:JOB:v1;id=J000123;bay=2;ro=RO-77")
    assert c.kind == "job_ticket" and c.fields == {"id": "J000123", "bay": "2", "ro": "RO-77"}
    assert classify("QRCODE", "BAYGATE:JOB:v9;id=1").kind == "raw"
    assert classify("QRCODE", "BAYGATE:JOB:v1;bay=2").kind == "raw"  # id is required


def test_gs1_forms() -> None:
    hri = classify("DATAMATRIX", "(01)09506000134352(21)AC-1234-5678", [ACME])
    assert hri.kind == "gs1" and hri.fields["gtin"] == "09506000134352"
    assert hri.serial is not None and hri.serial.manufacturer == "acme" and hri.serial.serial == "AC12345678"
    raw = parse_element_string("]d20109506000134352\x1d10LOT7\x1d17260101")
    assert raw == {"gtin": "09506000134352", "lot": "LOT7", "expiry": "260101"}
    link = parse_digital_link("https://id.example.com/01/09506000134352/21/X%2F1?10=L1")
    assert link == {"gtin": "09506000134352", "serial": "X/1", "lot": "L1"}
    assert classify("QRCODE", "https://id.example.com/01/09506000134352/21/X1").kind == "gs1"


def test_gs1_bad_gtin_is_not_gs1() -> None:
    assert not gtin_check_ok("09506000134353")
    assert parse_element_string("(01)09506000134353(21)A") is None
    assert classify("DATAMATRIX", "(01)09506000134353(21)A").kind == "raw"


def test_url_vin_serial_raw() -> None:
    assert classify("QRCODE", "https://evil.example/x?cmd=rm").kind == "url"
    vin = classify("DATAMATRIX", "1HGCM82633A004352")
    assert vin.kind == "vin" and vin.vin is not None and vin.vin.verified
    s = classify("CODE128", " ac-1234 5678 ", [ACME])
    assert s.kind == "serial" and s.serial is not None and s.serial.serial == "AC12345678"
    assert classify("CODE128", "AC123", [ACME]).kind == "raw"
    assert classify("CODE128", "hello world").kind == "raw"


def test_caps_and_binary() -> None:
    with pytest.raises(PayloadError):
        classify("QRCODE", "A" * (MAX_PAYLOAD_CHARS + 1))
    with pytest.raises(PayloadError):
        classify("QRCODE", "")
    assert classify("QRCODE", "AAEC", encoding="base64").kind == "raw"


def test_serial_rule_validation() -> None:
    with pytest.raises(CameraError):
        SerialRule(manufacturer="x", serial_patterns=("([",))
    with pytest.raises(CameraError):
        SerialRule(manufacturer="x", transform=("explode",))
    assert apply_transform(" a-b c ", ("strip", "upper", "remove:- ")) == "ABC"
