from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.support.enrich import FakeClock


@pytest.fixture
def nhtsa_server() -> Iterator[ServiceServer]:
    # hang_s bounds the 'timeout' fault so a test can never wait on it for long.
    with ServiceServer(NhtsaApp(), hang_s=2.0) as srv:
        yield srv


@pytest.fixture
def maker_server() -> Iterator[ServiceServer]:
    with ServiceServer(ManufacturerApp(), hang_s=2.0) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
