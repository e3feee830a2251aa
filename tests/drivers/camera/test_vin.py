"""VIN rules: check digit, alphabet, length, barcode import prefix, no 'correction'."""

from __future__ import annotations

import random

import pytest

from drivers.camera.vin import check_digit, check_vin, vin_from_barcode
from simulators.camera.vins import near_miss_vins, random_vin

KNOWN = "1HGCM82633A004352"  # the textbook example: check digit 3


def test_known_vin_verifies() -> None:
    assert check_digit(KNOWN) == "3"
    v = check_vin(KNOWN)
    assert v is not None and v.verified


@pytest.mark.parametrize("seed", range(20))
def test_simulator_vins_agree_with_driver(seed: int) -> None:
    vin = random_vin(random.Random(seed))
    v = check_vin(vin)
    assert v is not None and v.verified and v.value == vin


@pytest.mark.parametrize("seed", range(10))
def test_near_misses_are_never_vins(seed: int) -> None:
    for kind, bad in near_miss_vins(random_vin(random.Random(seed))).items():
        assert check_vin(bad) is None, kind
        assert vin_from_barcode("CODE39", bad) is None, kind
        assert vin_from_barcode("QRCODE", bad) is None, kind


def test_wrong_check_digit_is_not_corrected() -> None:
    # One confusable swap (B for 8) in a verified VIN: reject, never "fix" it back.
    assert check_vin("1HGCM82633A0043B2") is None
    assert check_vin(KNOWN.replace("0", "O", 1)) is None


def test_letter_in_position_nine_is_unverified_not_rejected() -> None:
    # European-style VIN: position 9 'Z' is a filler, no check digit in use.
    v = check_vin("WVWZZZ1JZXW000001")
    assert v is not None and v.status == "unverified" and not v.verified


def test_non_north_american_with_digit_check_position_mismatch_rejected() -> None:
    # An OCR misread of '1' as 'L' must not slip through as an unverified foreign VIN.
    assert check_vin("L" + KNOWN[1:]) is None


def test_code39_import_prefix() -> None:
    v = vin_from_barcode("CODE39", "I" + KNOWN)
    assert v is not None and v.value == KNOWN and v.verified
    v2 = vin_from_barcode("CODE39", "I" + KNOWN + "A7")
    assert v2 is not None and v2.value == KNOWN
    assert vin_from_barcode("CODE39", "X" + KNOWN) is None  # no import marker
    assert vin_from_barcode("CODE39", "I" + KNOWN + "ABC") is None  # 21 chars
    assert vin_from_barcode("CODE128", "I" + KNOWN) is None  # rule is Code 39 only
    bad = KNOWN[:8] + "4" + KNOWN[9:]
    assert vin_from_barcode("CODE39", "I" + bad) is None


def test_sixteen_and_eighteen_chars() -> None:
    assert check_vin(KNOWN[:16]) is None
    assert vin_from_barcode("DATAMATRIX", KNOWN + "1") is None


def test_a_part_label_is_not_squeezed_into_a_vin() -> None:
    # Issue 13: 'PN33528 SN00707630' was reported as VIN 'PN33528SN00707630' (spaces
    # stripped to make 17 characters).
    assert vin_from_barcode("CODE128", "PN33528 SN00707630") is None
    assert vin_from_barcode("QRCODE", f"{KNOWN[:8]} {KNOWN[8:]}") is None
    assert vin_from_barcode("QRCODE", f"  {KNOWN}\n") == check_vin(KNOWN)  # outer whitespace only


@pytest.mark.parametrize("payload", [f"VIN:{KNOWN}", f"VIN {KNOWN}", f"vin={KNOWN}", f"VIN#{KNOWN}"])
def test_labelled_payloads_carry_a_labelled_vin(payload: str) -> None:
    v = vin_from_barcode("QRCODE", payload)
    assert v is not None and v.value == KNOWN and v.verified and v.labelled


def test_import_prefix_is_a_label_and_plain_is_not() -> None:
    v = vin_from_barcode("CODE39", "I" + KNOWN)
    assert v is not None and v.labelled
    plain = vin_from_barcode("DATAMATRIX", KNOWN)
    assert plain is not None and not plain.labelled
    assert vin_from_barcode("QRCODE", "VIN:" + KNOWN[:-1] + "3") is None  # a label is no excuse
