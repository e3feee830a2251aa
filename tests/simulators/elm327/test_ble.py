"""The fake bleak backends under bleak's real BleakClient / BleakScanner."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import establish_connection

from simulators.elm327 import LAYOUTS, FakeBluetooth, FakeDongle, demo_dongles, fake_ble_backend
from tests.support.elm327 import instant

pytestmark = pytest.mark.anyio


class Reader:
    """Reassembles notifications until the '>' prompt, remembering their sizes."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.sizes: list[int] = []
        self.prompt = asyncio.Event()

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.sizes.append(len(data))
        self.buffer += data
        if b">" in data:
            self.prompt.set()

    async def ask(self, client: BleakClient, writer: BleakGATTCharacteristic, command: bytes) -> bytes:
        self.buffer.clear()
        self.prompt.clear()
        for i in range(0, len(command), 20):
            await client.write_gatt_char(writer, command[i : i + 20], response=False)
        async with asyncio.timeout(5):
            await self.prompt.wait()
        return bytes(self.buffer)


def pick(client: BleakClient) -> tuple[BleakGATTCharacteristic, BleakGATTCharacteristic]:
    """Characteristics by property, as a driver should: notify -> reader, write -> writer."""
    chars = [c for s in client.services for c in s.characteristics]
    reader = next(c for c in chars if "notify" in c.properties)
    writer = next(c for c in chars if "write-without-response" in c.properties)
    return reader, writer


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_each_layout_serves_the_adapter(layout: str) -> None:
    backend = fake_ble_backend("petrol-can", layout=layout, **instant())
    async with BleakClient("AA:BB:CC:00:00:01", backend=backend) as client:
        assert client.is_connected
        assert client.services.get_service(LAYOUTS[layout].service) is not None
        reader, writer = pick(client)
        assert reader.uuid == LAYOUTS[layout].notify
        assert writer.uuid == LAYOUTS[layout].write
        assert writer.max_write_without_response_size == 20
        notes = Reader()
        await client.start_notify(reader, notes)
        assert await notes.ask(client, writer, b"ATE0\r") == b"ATE0\rOK\r\r>"
        reply = await notes.ask(client, writer, b"0902\r")
        assert reply.endswith(b"\r\r>")
        assert max(notes.sizes) <= 20  # notifications are cut at the ATT payload size
        assert b"0: 49 02 01 31 46 54" in reply
    assert not client.is_connected


async def test_random_split_notifications_reassemble() -> None:
    backend = fake_ble_backend("diesel-can", layout="fff0", random_split=True, seed=3, **instant())
    async with BleakClient("AA:BB:CC:00:00:09", backend=backend) as client:
        reader, writer = pick(client)
        notes = Reader()
        await client.start_notify(reader, notes)
        await notes.ask(client, writer, b"ATE0\r")
        reply = await notes.ask(client, writer, b"0902\r")
        assert len(set(notes.sizes)) > 1
        vin = "".join(
            bytes.fromhex(line.split(":")[1]).decode("latin-1")
            for line in reply.decode().split("\r")
            if ":" in line
        )
        assert "WVGBV7AX8BW123457" in vin


async def test_oversized_write_without_response_is_rejected() -> None:
    async with BleakClient("AA:BB:CC:00:00:01", backend=fake_ble_backend()) as client:
        _, writer = pick(client)
        with pytest.raises(BleakError, match="ATT payload"):
            await client.write_gatt_char(writer, b"AT" + b" " * 30 + b"I\r", response=False)
        with pytest.raises(BleakError):
            info = client.services.get_characteristic("00002a29-0000-1000-8000-00805f9b34fb")
            assert info is not None
            await client.write_gatt_char(info, b"ATI\r", response=False)


async def test_drop_fault_is_an_unsolicited_disconnect() -> None:
    lost = asyncio.Event()
    backend = fake_ble_backend(faults=["drop:1"], **instant())
    client = BleakClient("AA:BB:CC:00:00:01", lambda _c: lost.set(), backend=backend)
    await client.connect()
    reader, writer = pick(client)
    notes = Reader()
    await client.start_notify(reader, notes)
    await notes.ask(client, writer, b"ATE0\r")
    notes.buffer.clear()
    await client.write_gatt_char(writer, b"0902\r", response=False)
    async with asyncio.timeout(5):
        await lost.wait()
    assert not client.is_connected
    assert b">" not in notes.buffer and notes.buffer  # half a reply, no prompt
    await client.disconnect()


async def test_unknown_and_vanishing_dongles() -> None:
    env = FakeBluetooth([FakeDongle("AA:BB:CC:00:00:07", "OBDII", "nus")])
    with pytest.raises(BleakDeviceNotFoundError):
        await BleakClient("11:22:33:44:55:66", backend=env.client).connect()
    lost = asyncio.Event()
    client = BleakClient("aa:bb:cc:00:00:07", lambda _c: lost.set(), backend=env.client)
    await client.connect()
    env.vanish("AA:BB:CC:00:00:07")
    async with asyncio.timeout(5):
        await lost.wait()
    assert not client.is_connected
    with pytest.raises(BleakError):
        await client.write_gatt_char(pick_writer_uuid("nus"), b"ATI\r", response=False)
    with pytest.raises(BleakDeviceNotFoundError):
        await BleakClient("AA:BB:CC:00:00:07", backend=env.client).connect()


def pick_writer_uuid(layout: str) -> str:
    return LAYOUTS[layout].write


async def test_scanner_discovers_dongles_with_names_rssi_and_layouts() -> None:
    env = FakeBluetooth(demo_dongles(), advert_interval_s=0.05)
    found = await BleakScanner.discover(0.2, return_adv=True, backend=env.scanner)
    assert {d.name for d, _ in found.values()} == {d.name for d in demo_dongles()}
    device, adv = found["AA:BB:CC:00:00:01"]
    assert (device.name, adv.rssi, adv.local_name) == ("Vgate iCar Pro", -58, "Vgate iCar Pro")
    assert adv.service_uuids == [LAYOUTS["fff0"].service]
    hidden = found["AA:BB:CC:00:00:04"][1]
    assert hidden.service_uuids == []  # some dongles do not advertise their service
    only = await BleakScanner.discover(0.2, backend=env.scanner, service_uuids=[LAYOUTS["nus"].service])
    assert [d.address for d in only] == ["AA:BB:CC:00:00:05"]


async def test_find_by_name_then_connect_with_retry_connector() -> None:
    env = FakeBluetooth(demo_dongles(), advert_interval_s=0.05, **instant())
    device = await BleakScanner.find_device_by_name("VEEPEAK", timeout=2, backend=env.scanner)
    assert device is not None
    client = await establish_connection(BleakClient, device, device.name or "", backend=env.client)
    try:
        reader, writer = pick(client)
        notes = Reader()
        await client.start_notify(reader, notes)
        await notes.ask(client, writer, b"ATE0\r")
        await notes.ask(client, writer, b"ATH1\r")
        reply = await notes.ask(client, writer, b"0100\r")
        assert b"48 6B 10 41 00" in reply  # the VEEPEAK demo dongle sits in an ISO 9141-2 car
    finally:
        await client.disconnect()
