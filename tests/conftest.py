"""Session-wide fixtures: a real Mosquitto on a free port, free ports, temp state dirs.

Nothing here depends on services that happen to run on this machine (a broker may
already listen on 1883: we never touch it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker, free_port


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the whole session. Tests that kill it must use `own_broker`."""
    b = Broker(workdir=tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test alone owns, so it can kill -9 and restart it freely."""
    b = Broker(workdir=tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d
