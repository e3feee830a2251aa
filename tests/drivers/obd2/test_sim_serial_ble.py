"""The driver over a pty (serial transport, auto-baud) and over the fake bleak backend
(our real BLE transport above it): each profile, each GATT layout, faults, discovery."""

from __future__ import annotations

import pytest
from bleak.exc import BleakError

from drivers.obd2 import diagnostics as diag
from drivers.obd2.discovery import discover
from drivers.obd2.errors import ConnectFailed, DongleNotFound, LinkLost, OBDError
from drivers.obd2.pids import BY_NAME
from drivers.obd2.session import LinkState, Session
from drivers.obd2.transports import BleTransport, transport_for_url
from simulators.elm327 import FakeBluetooth, FakeDongle, fake_ble_backend, serve_pty
from tests.support.obd import FAST, PROFILES, QUICK_BACKOFF, SIX

pytestmark = pytest.mark.anyio

LAYOUTS = ("fff0", "ffe0", "18f0", "e7810a71", "nus")


@pytest.mark.parametrize("profile", PROFILES)
async def test_pty_each_profile(profile: str) -> None:
    async with serve_pty(profile=profile, timing=FAST) as pty:
        s = Session(transport_for_url(pty.url), dongle="pty")
        await s.connect()
        try:
            assert (await diag.read_vin(s))[0] == pty.simulation.profile.vin
            readings = await diag.read_pids(s, [BY_NAME[n] for n in SIX[:3]])
            assert {r.pid.name for r in readings} == set(SIX[:3])
        finally:
            await s.close()


async def test_pty_with_explicit_baud_and_garbage() -> None:
    async with serve_pty(profile="petrol-can", timing=FAST, faults=["garbage:0.3"], seed=2) as pty:
        s = Session(transport_for_url(pty.url + "?baud=38400"), dongle="pty", timeout=0.5)
        await s.connect()
        got, errors = 0, 0
        for _ in range(30):
            try:
                got += len(await diag.read_pids(s, [BY_NAME["RPM"], BY_NAME["SPEED"]]))
            except OBDError:
                errors += 1
        await s.close()
        assert got >= 20 and errors >= 1


async def test_missing_serial_device() -> None:
    s = Session(transport_for_url("serial:///dev/does-not-exist-obd"), dongle="x")
    with pytest.raises(DongleNotFound):
        await s.connect()


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_ble_each_layout_with_split_notifications(layout: str) -> None:
    backend = fake_ble_backend("petrol-can", layout=layout, timing=FAST, random_split=True)
    s = Session(transport_for_url("ble://AA:BB:CC:00:00:01", ble_backend=backend), dongle="ble")
    await s.connect()
    try:
        assert (await diag.read_vin(s))[0] == "1FTFW1ET9DFC10312"
        readings = await diag.read_pids(s, [BY_NAME[n] for n in SIX])
        assert {r.pid.name for r in readings} == set(SIX)
    finally:
        await s.close()


@pytest.mark.parametrize("profile", PROFILES[1:])
async def test_ble_other_profiles(profile: str) -> None:
    backend = fake_ble_backend(profile, layout="nus", timing=FAST, random_split=True)
    s = Session(transport_for_url("ble://AA:BB:CC:00:00:01", ble_backend=backend), dongle="ble")
    await s.connect()
    try:
        assert (await diag.read_vin(s))[1] is True
        assert await diag.read_readiness(s) is not None
    finally:
        await s.close()


async def test_ble_writes_are_chunked_to_the_mtu() -> None:
    # The fake refuses a write-without-response over 20 bytes, as BlueZ would.
    t = BleTransport("AA:BB:CC:00:00:01", backend=fake_ble_backend("petrol-can", timing=FAST))
    await t.open()
    try:
        await t.write(b"A T" + b" " * 40 + b"I\r")  # the ELM ignores spaces
        assert "ELM" in await t.read_reply(2.0)
    finally:
        await t.close()


async def test_ble_drop_fault_is_link_lost_then_reconnect() -> None:
    backend = fake_ble_backend("petrol-can", layout="fff0", timing=FAST, faults=["drop:4"])
    s = Session(
        lambda: transport_for_url("ble://AA:BB:CC:00:00:01", ble_backend=backend),
        dongle="ble",
        backoff=QUICK_BACKOFF,
    )
    await s.connect()
    with pytest.raises(LinkLost):
        for _ in range(20):
            await diag.read_pids(s, [BY_NAME["RPM"]])
    assert s.state is LinkState.LOST
    await s.reconnect(attempts=2)
    assert (await diag.read_pids(s, [BY_NAME["RPM"]]))[0].pid.name == "RPM"
    await s.close()


def _env() -> FakeBluetooth:
    return FakeBluetooth(
        [
            FakeDongle("AA:BB:CC:00:00:01", "Vgate iCar Pro", "fff0", rssi=-58, timing=FAST),
            FakeDongle("AA:BB:CC:00:00:02", "OBDII", "nus", rssi=-70, advertise_service=False, timing=FAST),
        ]
    )


async def test_discover_lists_dongles_with_layouts() -> None:
    found = await discover(0.3, backend=_env().scanner)
    by_addr = {c.address: c for c in found}
    assert by_addr["AA:BB:CC:00:00:01"].layout == "fff0"
    assert by_addr["AA:BB:CC:00:00:01"].rssi == -58
    assert by_addr["AA:BB:CC:00:00:02"].layout is None  # hides its service; found by name
    assert found[0].address == "AA:BB:CC:00:00:01"  # strongest first


async def test_ble_by_name_through_scan_and_retry_connector() -> None:
    env = _env()
    t = transport_for_url("ble://name=OBDII", ble_backend=env.client, ble_scanner_backend=env.scanner)
    s = Session(t, dongle="ble")
    await s.connect()
    assert (await diag.read_vin(s))[0] == "1FTFW1ET9DFC10312"
    await s.close()


async def test_unknown_dongle_is_a_clear_error() -> None:
    env = _env()
    t = BleTransport("AA:BB:CC:99:99:99", backend=env.client, scanner_backend=env.scanner, scan_timeout=0.3)
    with pytest.raises(DongleNotFound, match="not seen"):
        await Session(t, dongle="x").connect()


async def test_dongle_vanishing_mid_session() -> None:
    env = _env()
    factory = lambda: BleTransport(  # noqa: E731
        "AA:BB:CC:00:00:01", backend=env.client, scanner_backend=env.scanner, scan_timeout=0.3
    )
    s = Session(factory, dongle="ble", timeout=0.5, backoff=QUICK_BACKOFF)
    await s.connect()
    env.vanish("AA:BB:CC:00:00:01")
    with pytest.raises(LinkLost):
        for _ in range(5):
            await diag.read_pids(s, [BY_NAME["RPM"]])
    with pytest.raises(ConnectFailed, match="gave up"):
        await s.reconnect(attempts=2)
    await s.close()


def test_bleak_error_type_is_what_the_fake_raises() -> None:
    assert issubclass(BleakError, Exception)


async def test_auto_baud_gives_up_clearly_on_a_silent_adapter() -> None:
    async with serve_pty(profile="petrol-can", timing=FAST, faults=["silent"]) as pty:
        t = transport_for_url(pty.url)
        with pytest.raises(ConnectFailed, match="no ELM327 prompt at 38400, 9600, 115200"):
            await t.open()
