"""Every profile x every fault mode, over TCP and over the fake BLE backend: the full
report and live polling either give the car's data or typed errors, never a crash."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.obd2 import diagnostics as diag
from drivers.obd2.errors import LinkLost, NoData, OBDError
from drivers.obd2.pids import BY_NAME
from drivers.obd2.report import read_report
from drivers.obd2.scheduler import PidScheduler, poll
from drivers.obd2.session import LinkState, Quirk, Session
from drivers.obd2.transports import Transport, transport_for_url
from simulators.elm327 import fake_ble_backend, serve_tcp
from simulators.elm327.profile import Profile
from tests.support.obd import FAST, PROFILES, QUICK_BACKOFF, SIX

pytestmark = pytest.mark.anyio

FAULTS = ("split:3", "garbage:0.3", "nodata:3", "echo", "noprompt", "h1-not-ok")
# Adapter/engine faults (nodata, h1-not-ok) behave the same on any transport: over BLE
# only the ones that meet the notification path run, to keep the suite short.
BLE_FAULTS = ("split:3", "garbage:0.3", "echo", "noprompt")
# Faults that only cost time or need a quirk: the report must be complete and exact.
CLEAN = ("split:3", "echo", "noprompt", "h1-not-ok")


async def _exercise(factory: Callable[[], Transport], car: Profile, fault: str) -> None:
    s = Session(factory, dongle="m", timeout=0.5)
    await s.connect()
    try:
        report = await read_report(s)
        if fault in CLEAN:
            assert report.errors == []
            assert report.vin == car.vin and report.vin_valid
            for mode in diag.DTC_MODES:
                assert {d.code for d in report.dtcs[mode]} == {c for e in car.ecus for c in getattr(e, mode)}
        else:
            assert all(": " in e for e in report.errors)  # typed, named errors
        if fault == "echo":
            assert Quirk.ECHO_STUCK in s.quirks
        if fault == "h1-not-ok":
            assert Quirk.NO_HEADERS in s.quirks
        errors: list[OBDError] = []
        values = 0
        # Without headers (or on a legacy bus, one PID per request) there is no count
        # digit to send and each request waits out ATST (200 ms): ask for less.
        want = 40 if s.is_can and Quirk.NO_HEADERS not in s.quirks else 8
        stream = poll(s, PidScheduler(dict.fromkeys([BY_NAME[n] for n in SIX[:4]], None)), errors=errors)
        async for samples in stream:
            values += len(samples)
            if values >= want:
                break
        await stream.aclose()
        assert values >= want
        if fault.startswith("nodata"):
            assert any(isinstance(e, NoData) for e in errors)
        if fault in CLEAN:
            assert errors == []
    finally:
        await s.close()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("profile", PROFILES)
async def test_tcp(profile: str, fault: str) -> None:
    async with serve_tcp(profile=profile, timing=FAST, faults=[fault], seed=3) as srv:
        await _exercise(lambda: transport_for_url(srv.url), srv.simulation.profile, fault)


@pytest.mark.parametrize("fault", BLE_FAULTS)
@pytest.mark.parametrize("profile", PROFILES)
async def test_ble(profile: str, fault: str) -> None:
    backend = fake_ble_backend(profile, layout="fff0", timing=FAST, faults=[fault], random_split=True)
    async with serve_tcp(profile=profile, timing=FAST) as ref:  # the same profile, for its data
        car = ref.simulation.profile
    await _exercise(lambda: transport_for_url("ble://AA:BB:CC:00:00:01", ble_backend=backend), car, fault)


@pytest.mark.parametrize("profile", PROFILES)
async def test_drop_then_reconnect(profile: str) -> None:
    async with serve_tcp(profile=profile, timing=FAST, faults=["drop:6"]) as srv:
        s = Session(lambda: transport_for_url(srv.url), dongle="m", backoff=QUICK_BACKOFF)
        await s.connect()
        with pytest.raises(LinkLost):
            for _ in range(30):
                await diag.read_pids(s, [BY_NAME["RPM"]])
        assert s.state is LinkState.LOST
        await s.reconnect(attempts=3)
        assert (await diag.read_vin(s))[0] == srv.simulation.profile.vin
        await s.close()
