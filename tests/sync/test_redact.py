"""Credentials never shown: URLs and libpq keyword strings, in the forms people write."""

from __future__ import annotations

import pytest

from sync.redact import redact


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("postgresql://ingest:s3cret@db:5432/baygate", "s3cret", "postgresql://ingest:***@db:5432/baygate"),
        ("cannot open postgres://u:p%40ss@10.0.0.2/x: refused", "p%40ss", "postgres://u:***@10.0.0.2/x"),
        ("mqtts://bay-1:pw-with-dashes@broker.shop:8883", "pw-with-dashes", "mqtts://bay-1:***@broker.shop"),
        ("host=db user=ingest password=s3cret dbname=b", "s3cret", "password=***"),
        ("host=db password='two words' sslmode=require", "two words", "password=***"),
        ("https://api.example/x?user=a&pwd=xyz&n=1", "xyz", "pwd=***&n=1"),
    ],
)
def test_credentials_are_replaced(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "baygate backend: $share/ingest/baygate/v1/+/+/+ on mqtt://127.0.0.1:1883 -> b.sqlite3",
        "postgresql://postgres@127.0.0.1:5432/postgres",  # a user, no password
        "mail ops@shop.example about seq=12",
    ],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact(text) == text
