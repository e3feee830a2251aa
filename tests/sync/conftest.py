"""Fixtures for sync tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.postgres import postgres_server
from tests.support.sync import make_broker


@pytest.fixture
def sync_broker(tmp_path: Path) -> Iterator[Broker]:
    """Like conftest's own_broker (killable, restartable), but persistence really on
    when running as root (see make_broker)."""
    b = make_broker(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL started for this session (initdb/pg_ctl, free port)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """A fresh database per test on the session's server."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    yield pg_url.rsplit("/", 1)[0] + "/" + name
