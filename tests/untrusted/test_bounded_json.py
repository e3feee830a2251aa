"""The bounded JSON parser: every bad input is one UntrustedInputError, never json's
own exceptions, never RecursionError, and the limits hold exactly at their edges."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from untrusted import (
    INT_MAX,
    INT_MIN,
    NotJsonError,
    OutOfRangeError,
    Rejections,
    TooDeepError,
    TooLargeError,
    bounded_int,
    parse_json,
    parse_object,
)

CORPUS = Path(__file__).parent / "corpus"


def test_the_json_org_pass_document_parses_like_json_loads() -> None:
    raw = (CORPUS / "pass1.json").read_bytes()
    assert parse_json(raw, max_bytes=1 << 20) == json.loads(raw)


@pytest.mark.parametrize("doc", json.loads((CORPUS / "fail.json").read_text()))
def test_the_json_org_fail_documents_are_refused_with_our_error_only(doc: str) -> None:
    try:
        expected = json.loads(doc)
    except ValueError:
        with pytest.raises(NotJsonError):
            parse_json(doc, max_bytes=1 << 20)
        return
    if doc.count("[") > 19:  # fail18: "too deep" for JSON_checker, valid for Python
        with pytest.raises(TooDeepError):
            parse_json(doc, max_bytes=1 << 20, max_depth=19)
    else:  # fail1: a bare string, valid JSON since RFC 7159
        assert parse_json(doc, max_bytes=1 << 20) == expected


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_refused_before_json_recurses(depth: int) -> None:
    # ~1,000 levels raised RecursionError in json.loads (issue 10's poison ack)
    for raw in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth):
        with pytest.raises(TooDeepError):
            parse_json(raw, max_bytes=1 << 20)


def test_depth_limit_is_exact_and_brackets_inside_strings_do_not_count() -> None:
    assert parse_json(b"[" * 32 + b"]" * 32, max_bytes=1000) is not None
    with pytest.raises(TooDeepError):
        parse_json(b"[" * 33 + b"]" * 33, max_bytes=1000)
    tricky = json.dumps({"s": "[" * 500 + '\\"{' * 100, "t": ["]]]", "[["]}).encode()
    assert parse_object(tricky, max_bytes=10_000, max_depth=2)["t"] == ["]]]", "[["]


def test_size_is_checked_first() -> None:
    with pytest.raises(TooLargeError):
        parse_json(b"[" * 2_000_000, max_bytes=1 << 20)
    assert parse_json(b" " * 10 + b"1", max_bytes=11) == 1


@pytest.mark.parametrize(
    "raw",
    [b"9223372036854775808", b"-9223372036854775809", b"1" + b"0" * 5000, b"1e999", b"-1e999", b"NaN",
     b"Infinity", b"-Infinity", b'{"session": 9223372036854775813}'],
)
def test_numbers_out_of_range_are_refused(raw: bytes) -> None:
    with pytest.raises(OutOfRangeError):
        parse_json(raw, max_bytes=1 << 20)


def test_numbers_at_the_edges_are_kept() -> None:
    assert parse_json(str(INT_MAX).encode(), max_bytes=100) == INT_MAX
    assert parse_json(str(INT_MIN).encode(), max_bytes=100) == INT_MIN
    assert parse_json(b"1.5e308", max_bytes=100) == 1.5e308


@pytest.mark.parametrize("raw", [b"\xff\xfe{", b"", b"{", b'{"a":1}x', b"\x00"])
def test_garbage_is_not_json(raw: bytes) -> None:
    with pytest.raises(NotJsonError):
        parse_json(raw, max_bytes=100)


def test_parse_object_wants_an_object() -> None:
    with pytest.raises(NotJsonError):
        parse_object(b"[1]", max_bytes=100)


def test_bounded_int_refuses_bools_strings_and_range() -> None:
    assert bounded_int(5, lo=1, hi=5) == 5
    for bad in (True, "5", 5.0, None):
        with pytest.raises(NotJsonError):
            bounded_int(bad)
    with pytest.raises(OutOfRangeError):
        bounded_int(0, lo=1)


def test_rejections_count_every_refusal_and_log_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rej = Rejections(logging.getLogger("t.rej"), window_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="t.rej"):
        for _ in range(1000):
            rej.refuse("poison", "deep")
        now[0] = 11.0
        rej.refuse("poison", "deep")
    assert rej.counts == {"poison": 1001}
    assert len(caplog.records) == 2
    assert "999 more refused" in caplog.records[1].getMessage()
