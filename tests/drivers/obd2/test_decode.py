"""PID, DTC, readiness and VIN decoding from canned bytes."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from drivers.obd2.dtc import decode_dtc, decode_dtc_messages, describe
from drivers.obd2.errors import DecodeError
from drivers.obd2.pids import BY_CODE, BY_NAME, decode_batch, lookup, supported_from_bitmap
from drivers.obd2.readiness import decode_readiness
from drivers.obd2.vin import check_digit, decode_calibration_ids, decode_vin, vin_is_valid


@pytest.mark.parametrize(
    ("name", "data", "value"),
    [
        ("RPM", "1AF8", 1726.0),
        ("SPEED", "32", 50),
        ("COOLANT_TEMP", "7B", 83),
        ("ENGINE_LOAD", "FF", 100.0),
        ("SHORT_FUEL_TRIM_1", "80", 0.0),
        ("LONG_FUEL_TRIM_1", "00", -100.0),
        ("TIMING_ADVANCE", "80", 0.0),
        ("MAF", "0190", 4.0),
        ("FUEL_PRESSURE", "10", 48),
        ("RUN_TIME", "0102", 258),
        ("CONTROL_MODULE_VOLTAGE", "3A98", 15.0),
        ("BAROMETRIC_PRESSURE", "65", 101),
        ("CATALYST_TEMP_B1S1", "1194", 410.0),
        ("FUEL_STATUS", "0200", "closed loop"),
        ("FUEL_TYPE", "04", "diesel"),
        ("EVAP_VAPOR_PRESSURE", "FFFC", -1.0),
        ("O2_B1S2", "5A80", 0.45),
        ("FUEL_RATE", "0064", 5.0),
    ],
)
def test_pid_formulas(name: str, data: str, value: object) -> None:
    assert BY_NAME[name].value(bytes.fromhex(data)) == value


def test_at_least_forty_common_pids_with_units() -> None:
    with_units = [p for p in BY_CODE.values() if p.unit]
    assert len(with_units) >= 40
    assert lookup("0C") is lookup("RPM") is lookup("010c")
    with pytest.raises(DecodeError):
        lookup("NOT_A_PID")


def test_wrong_length_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        BY_NAME["RPM"].value(b"\x1a")


def test_batched_reply_split_by_pid_sizes() -> None:
    parts = decode_batch(bytes.fromhex("0C1AF80D32057B"))
    assert [(p.name, p.value(d)) for p, d in parts] == [("RPM", 1726.0), ("SPEED", 50), ("COOLANT_TEMP", 83)]
    with pytest.raises(DecodeError):
        decode_batch(bytes.fromhex("0C1A"))  # truncated
    with pytest.raises(DecodeError):
        decode_batch(bytes.fromhex("E9010203"))  # unknown PID: the rest cannot be split


def test_freeze_frame_reply_carries_the_frame_number() -> None:
    parts = decode_batch(bytes.fromhex("0C001AF80D0032"), per_pid_extra=1)
    assert [(p.name, p.value(d)) for p, d in parts] == [("RPM", 1726.0), ("SPEED", 50)]


def test_supported_bitmap() -> None:
    pids = supported_from_bitmap(0x00, bytes.fromhex("BE3EB811"))
    assert {0x01, 0x03, 0x04, 0x05, 0x0C, 0x0D, 0x20} <= pids
    assert 0x02 not in pids
    assert supported_from_bitmap(0x20, bytes.fromhex("80000001")) == {0x21, 0x40}


def test_dtc_codes_and_descriptions() -> None:
    assert decode_dtc(bytes.fromhex("0133")) == "P0133"
    assert decode_dtc(bytes.fromhex("4123")) == "C0123"
    assert decode_dtc(bytes.fromhex("9ABC")) == "B1ABC"
    assert decode_dtc(bytes.fromhex("C100")) == "U0100"
    assert describe("P0420") == "Catalyst system efficiency below threshold (bank 1)"
    assert describe("P1234") is None


def test_dtc_description_file_is_large_and_well_formed() -> None:
    text = resources.files("drivers.obd2").joinpath("dtc_descriptions.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) >= 300
    assert all(r["code"][0] == "P" and r["description"] for r in rows)


def test_dtcs_with_can_count_byte() -> None:
    dtcs = decode_dtc_messages([bytes.fromhex("4303010301330420")], "7E8")
    assert [d.code for d in dtcs] == ["P0103", "P0133", "P0420"]
    assert decode_dtc_messages([bytes.fromhex("4300")]) == []
    with pytest.raises(DecodeError):
        decode_dtc_messages([bytes.fromhex("430301030133")])  # count says 3, holds 2


def test_legacy_dtcs_without_count_and_with_padding() -> None:
    msgs = [bytes.fromhex("43017101330420"), bytes.fromhex("43030000000000")]
    assert [d.code for d in decode_dtc_messages(msgs)] == ["P0171", "P0133", "P0420", "P0300"]


def test_readiness_spark() -> None:
    r = decode_readiness(bytes.fromhex("82076504"))
    assert r.mil and r.dtc_count == 2 and r.ignition == "spark"
    assert r.monitors["misfire"] == {"supported": True, "complete": True}
    assert r.monitors["catalyst"] == {"supported": True, "complete": True}
    assert r.monitors["evaporative_system"] == {"supported": True, "complete": False}
    assert r.monitors["heated_catalyst"]["supported"] is False


def test_readiness_compression_has_diesel_monitors() -> None:
    r = decode_readiness(bytes.fromhex("000F4100"))
    assert r.ignition == "compression" and not r.mil
    assert "pm_filter" in r.monitors and "catalyst" not in r.monitors
    assert r.monitors["pm_filter"] == {"supported": True, "complete": True}


@pytest.mark.parametrize("vin", ["1FTFW1ET9DFC10312", "11111111111111111", "1M8GDM9AXKP042788"])
def test_vin_check_digit(vin: str) -> None:
    assert vin_is_valid(vin)
    assert check_digit(vin) == vin[8]


def test_vin_check_digit_catches_a_typo() -> None:
    assert not vin_is_valid("1FTFW1ET9DFC10313")
    assert not vin_is_valid("SHORT")


def test_vin_starting_and_ending_with_0_1_2_is_not_corrupted() -> None:
    # python-OBD stripped these characters (its issues #275/#276).
    vin = "0123456789ABCDE12"
    assert decode_vin([b"\x49\x02\x01" + vin.encode()]) == vin


def test_legacy_vin_from_five_messages_with_fillers() -> None:
    data = b"\x00\x00\x00" + b"1D4GP00R55B123456"
    msgs = [bytes([0x49, 0x02, i + 1]) + data[4 * i : 4 * i + 4] for i in range(5)]
    assert decode_vin(list(reversed(msgs))) == "1D4GP00R55B123456"


def test_bad_vins_are_decode_errors() -> None:
    with pytest.raises(DecodeError):
        decode_vin([b"\x49\x02\x01" + b"1FTFW1ET9DFC1031"])  # 16 chars
    with pytest.raises(DecodeError):
        decode_vin([b"\x49\x02\x01" + b"1FTFW1ET9DFC1031\xff"])
    with pytest.raises(DecodeError):
        decode_vin([b"\x49\x02\x01" + b"IOQFW1ET9DFC10312"])  # I, O, Q never appear


def test_calibration_ids() -> None:
    msg = b"\x49\x04\x02" + b"DFC1-14C204-AB\x00\x00" + b"TCM-6R80\x00" + b"\x00" * 7
    assert decode_calibration_ids([msg]) == ["DFC1-14C204-AB", "TCM-6R80"]
    with pytest.raises(DecodeError):
        decode_calibration_ids([b"\x49\x04\x01ABC"])
