"""Sans-IO parsing of vPIC and recalls answers: any bytes give data or DataError, never a crash."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from agent.enrich.errors import DataError
from agent.enrich.vpic import (
    parse_decode_rows,
    parse_error_codes,
    parse_recalls,
    recall_model_variants,
    vehicle_from_row,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["Make", "Model", "ModelYear", "ErrorCode", "SuggestedVIN", "EngineCylinders", "DisplacementL",
     "EngineHP", "VIN", "ReportReceivedDate", "NHTSACampaignNumber"]
)  # fmt: skip


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_parsers(body: bytes) -> None:
    for parse in (parse_decode_rows, parse_recalls):
        with contextlib.suppress(DataError):
            parse(body)


@given(st.dictionaries(KEYS, json_values, max_size=8))
def test_odd_but_valid_json_rows_decode_or_raise_dataerror(row: dict[str, object]) -> None:
    for doc in ({"Results": [row]}, {"results": [row]}):
        body = json.dumps(doc).encode()
        try:
            for r in parse_decode_rows(body):
                v = vehicle_from_row(r)
                assert all(isinstance(c, int) for c in v.error_codes)
            parse_recalls(body)
        except DataError:
            pass


def test_non_string_fields_are_tolerated() -> None:
    body = json.dumps(
        {"results": [{"ReportReceivedDate": 20190906, "parkIt": "yes", "Model": 1500}]}
    ).encode()
    (r,) = parse_recalls(body)
    assert r.report_received is None and r.park_it is True and r.model == "1500"
    row = parse_decode_rows(json.dumps({"Results": [{"ModelYear": 2019, "ErrorCode": 0}]}).encode())[0]
    v = vehicle_from_row(row)
    assert v.model_year == 2019 and v.error_codes == [0]


def test_error_codes_are_a_list() -> None:
    assert parse_error_codes("1,4,14,400") == [1, 4, 14, 400]
    assert parse_error_codes("0") == [0] and parse_error_codes("") == [] and parse_error_codes(None) == []
    assert parse_error_codes("1, x ,6") == [1, 6]


def test_recall_model_variants() -> None:
    assert recall_model_variants("Silverado", "1500 LT")[0] == "SILVERADO 1500"
    assert recall_model_variants("3-Series", "F30")[:2] == ["3-SERIES", "3 SERIES"]
    assert "CRV" in recall_model_variants("CR-V")
    assert recall_model_variants("F-150 Lightning")[-1] == "F-150"
    assert "MODEL" not in recall_model_variants("Model 3")  # a bare first word would match too much


def test_truncated_and_html_bodies_are_data_errors() -> None:
    good = json.dumps({"Results": [{"VIN": "X"}]}).encode()
    for body in (good[: len(good) // 2], b"<html><body>502</body></html>", b'{"Message": "no results key"}'):
        try:
            parse_decode_rows(body)
        except DataError as exc:
            assert "Results" in str(exc) or "not JSON" in str(exc)
        else:
            raise AssertionError(f"{body!r} parsed")


def test_batch_rows_are_matched_by_order_or_by_echoed_vin() -> None:
    import pytest

    from agent.enrich.nhtsa import _match_rows

    items: list[tuple[str, int | None]] = [("A", None), ("B", 2019)]
    assert _match_rows(items, [{"VIN": "a"}, {"VIN": "B"}]) == [{"VIN": "a"}, {"VIN": "B"}]
    assert _match_rows(items, [{"VIN": "B"}, {"VIN": "A"}]) == [{"VIN": "A"}, {"VIN": "B"}]
    with pytest.raises(DataError):
        _match_rows(items, [{"VIN": "A"}])
    with pytest.raises(DataError):
        _match_rows(items, [{"VIN": "A"}, {"VIN": "C"}])
