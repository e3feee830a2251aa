"""Fixtures for sync tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.sync import make_broker


@pytest.fixture
def sync_broker(tmp_path: Path) -> Iterator[Broker]:
    """Like conftest's own_broker (killable, restartable), but persistence really on
    when running as root (see make_broker)."""
    b = make_broker(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()
