"""Session-wide fixtures: a real Mosquitto on a free port, free ports, temp state dirs.

Nothing here depends on services that happen to run on this machine (a broker may
already listen on 1883: we never touch it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync.provision import AgentIdentity, add_agent, init_dir
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


@dataclass
class SecureBroker:
    """A broker running the shipped setup of `baygate broker init` (tests/support/broker.py)."""

    broker: Broker
    dir: Path
    backend_password: str

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    def add_agent(self, shop: str, agent: str) -> AgentIdentity:
        ident = add_agent(self.dir, shop, agent)
        self.broker.reload()
        return ident


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    """A killable broker with the production setup: no anonymous clients, one identity
    per agent and one for the backend, ACLs."""
    d = tmp_path / "broker-setup"
    password = init_dir(d)
    b = Broker(workdir=tmp_path / "mosquitto", secure_dir=d)
    b.start()
    yield SecureBroker(b, d, password)
    b.stop()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d
