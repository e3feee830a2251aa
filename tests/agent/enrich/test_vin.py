from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from agent.enrich.vin import check_digit, country_of, decode_offline, manufacturer_of

VALID = "1HGCM82633A004352"  # the textbook Honda Accord VIN: check digit 3


def test_known_vin_decodes_offline() -> None:
    info = decode_offline(VALID)
    assert info.valid and info.check_digit_ok is True
    assert (info.manufacturer, info.country, info.model_year) == ("Honda", "United States", 2003)


def test_wrong_check_digit_is_reported_with_the_expected_one() -> None:
    info = decode_offline(VALID[:8] + "4" + VALID[9:])
    assert info.valid and info.check_digit_ok is False
    assert info.expected_check_digit == "3"
    assert any("check digit" in p for p in info.problems)


def test_structure_rules_length_and_forbidden_letters() -> None:
    assert not decode_offline(VALID[:-1]).valid
    for bad in "IOQ":
        info = decode_offline(VALID[:5] + bad + VALID[6:])
        assert not info.valid and info.check_digit_ok is None


def test_labels_with_spaces_and_dashes_are_normalised() -> None:
    assert decode_offline("1hgcm8-2633a 004352").vin == VALID


def test_partial_vin_keeps_what_can_be_known() -> None:
    info = decode_offline("1FTFW1E5*KF******")
    assert info.valid and info.partial and info.check_digit_ok is None
    assert info.manufacturer == "Ford" and info.model_year == 2019


def test_position_7_disambiguates_the_model_year_cycle() -> None:
    # Same position-10 code 'A': numeric position 7 -> 1980, alphabetic -> 2010.
    old = "1G1AAA134A" + "0" * 7
    new = "1G1AAAB34A" + "0" * 7
    assert decode_offline(old).model_year == 1980
    assert decode_offline(new).model_year == 2010


def test_non_north_american_year_takes_latest_plausible() -> None:
    info = decode_offline("WBA8E9G58GNT43210", today=date(2026, 1, 1))
    assert info.model_year_candidates == (1986, 2016) and info.model_year == 2016


def test_countries_from_iso_3780_ranges() -> None:
    assert country_of("JTD") == "Japan"
    assert country_of("KMH") == "South Korea"
    assert country_of("3VW") == "Mexico"
    assert country_of("2HK") == "Canada"
    assert country_of("VF1") == "France" and country_of("SAJ") == "United Kingdom"
    assert manufacturer_of("5YJ3E1EA2KF317000") == "Tesla"


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17))
def test_every_single_character_change_breaks_the_check_digit(vin: str) -> None:
    fixed = vin[:8] + (check_digit(vin) or "0") + vin[9:]
    assert decode_offline(fixed).check_digit_ok is True
    # Changing position 1 to a character of a different value is always detected.
    other = "2" if fixed[0] in "1AJ" else "1"
    assert decode_offline(other + fixed[1:]).check_digit_ok is False


@given(st.text(max_size=40))
def test_any_input_gives_an_answer_never_an_exception(text: str) -> None:
    info = decode_offline(text)
    assert info.valid in (True, False)


def test_north_american_year_never_lands_in_the_future() -> None:
    from datetime import date

    from agent.enrich.vin import decode_offline

    # Position 7 'W' (letter) says 2010-2039, position 10 '8' -> 2038: impossible in 2026.
    info = decode_offline("1G1TPMWV98W673017", today=date(2026, 11, 23))
    assert info.model_year == 2008
