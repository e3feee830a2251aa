"""The simulators agree with each other (issue 12): every vehicle profile's VIN, as the
ELM327 simulator sends it and our driver reads it, is a valid VIN that the NHTSA
simulator decodes over HTTP to the make, model and year the profile says it is."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from drivers.obd2.diagnostics import read_vin
from drivers.obd2.session import Session
from drivers.obd2.transports import transport_for_url
from simulators.elm327 import list_profiles, load_profile, serve_tcp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.support.obd import FAST

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def vpic() -> Iterator[ServiceServer]:
    with ServiceServer(NhtsaApp(), hang_s=1.0) as srv:
        yield srv


def _decode(srv: ServiceServer, vin: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", f"/api/vehicles/DecodeVinValues/{vin}?format=json")
        row: dict[str, str] = json.loads(conn.getresponse().read())["Results"][0]
        return row
    finally:
        conn.close()


@pytest.mark.parametrize("profile", list_profiles())
async def test_profile_vin_is_known_to_the_nhtsa_simulator(profile: str, vpic: ServiceServer) -> None:
    car = load_profile(profile)
    assert car.make and car.model and car.year, f"{profile}: give make, model and year"
    async with serve_tcp(profile=profile, timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="agree")
        await s.connect()
        try:
            vin, valid = await read_vin(s)
        finally:
            await s.close()
    assert vin == car.vin and valid
    row = _decode(vpic, vin)
    assert row["ErrorCode"] == "0", row["ErrorText"]
    assert (row["Make"], row["Model"], row["ModelYear"]) == (car.make, car.model, str(car.year))


def test_the_default_car_is_the_f150() -> None:
    # `baygate simulate elm327` with no --profile: the car the demo and README show.
    from simulators.elm327.cli import build_parser

    assert build_parser().parse_args([]).profile == "petrol-can"
