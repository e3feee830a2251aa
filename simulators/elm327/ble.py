"""A fake BLE OBD dongle as a bleak backend: `BleakClient(addr, backend=env.client)`.

bleak 3.1's `BleakClient(..., backend=cls)` instantiates `cls(address_or_ble_device,
disconnected_callback=..., services=..., timeout=..., bluez=..., winrt=..., **kwargs)`
and forwards connect/disconnect/start_notify/write_gatt_char to it; `BleakScanner(
backend=cls)` instantiates `cls(detection_callback, service_uuids, scanning_mode,
bluez=..., cb=..., **kwargs)`. Both are subclasses bound to one `FakeBluetooth`
environment (the radio neighbourhood: which dongles exist, with which car behind them).

Notifications are cut at the ATT payload size (MTU 23 - 3 = 20 bytes, as on older
BlueZ) and, with `random_split`, at random points too; a write without response longer
than the payload size is rejected as the ATT layer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError

from .gatt import MANUFACTURER_NAME, GattLayout, build_services, layout
from .link import Session, Simulation, Sleep
from .profile import Profile
from .scanner import make_scanner
from .timing import Timing

__all__ = [
    "ATT_OVERHEAD",
    "BLE_ECU_MS",
    "BLE_RTT_MS",
    "FakeBleClient",
    "FakeBluetooth",
    "FakeDongle",
    "demo_dongles",
    "fake_ble_backend",
    "fake_scanner_backend",
]

ATT_OVERHEAD = 3  # ATT opcode + handle: payload per packet = MTU - 3
DEFAULT_MTU = 23  # the BLE 4.0 minimum, what older BlueZ reports
# A BLE dongle's own cost per command (the demo and `--simulated-ble`): ~30 ms a round
# trip (a connection interval or two), a typical ECU answering in 15 ms.
BLE_RTT_MS = 30.0
BLE_ECU_MS = 15.0
log = logging.getLogger("baygate.sim.elm327.ble")


@dataclass
class FakeDongle:
    """One BLE OBD dongle and the car it is plugged into."""

    address: str
    name: str = "OBDII"
    layout: str = "fff0"
    rssi: int = -60
    advertise_service: bool = True
    profile: str | Profile = "petrol-can"
    faults: Iterable[str] = ()
    rtt_ms: float = 0.0
    ecu_ms: float = 0.0
    timing: Timing | None = None
    mtu: int = DEFAULT_MTU
    random_split: bool = False
    seed: int = 0
    version: str | None = None  # what ATI answers; default: the adapter's banner
    adapter: str | None = None  # an adapter personality (adapters.py)
    simulation: Simulation | None = field(default=None, repr=False)

    @property
    def gatt(self) -> GattLayout:
        return layout(self.layout)


class FakeBluetooth:
    """The radio neighbourhood: dongles that advertise and accept connections.

    `client` and `scanner` are bleak backend classes bound to this environment. Remove a
    dongle (`vanish`) and its live connections drop with bleak's disconnected callback.
    """

    def __init__(
        self,
        dongles: Iterable[FakeDongle] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        advert_interval_s: float = 0.1,
        any_address: bool = False,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.advert_interval_s = advert_interval_s
        self.any_address = any_address
        self.dongles: dict[str, FakeDongle] = {}
        self.connected: dict[str, list[FakeBleClient]] = {}
        for d in dongles:
            self.add(d)
        env = self
        self.client: type[FakeBleClient] = type("FakeBleClient", (FakeBleClient,), {"env": env})
        self.scanner = make_scanner(self)

    def add(self, dongle: FakeDongle) -> None:
        dongle.gatt  # noqa: B018  -- validate the layout name now, not at connect
        if dongle.simulation is None:
            dongle.simulation = Simulation.build(
                dongle.profile,
                rtt_ms=dongle.rtt_ms,
                ecu_ms=dongle.ecu_ms,
                faults=dongle.faults,
                timing=dongle.timing,
                clock=self.clock,
                sleep=self.sleep,
                seed=dongle.seed,
                version=dongle.version,
                adapter=dongle.adapter,
            )
        self.dongles[dongle.address.upper()] = dongle

    def vanish(self, address: str) -> None:
        """The dongle is unplugged: it stops advertising and live links drop."""
        self.dongles.pop(address.upper(), None)
        for client in self.connected.pop(address.upper(), []):
            client.link_lost()

    def find(self, address: str) -> FakeDongle:
        dongle = self.dongles.get(address.upper())
        if dongle is None and self.any_address and len(self.dongles) == 1:
            dongle = next(iter(self.dongles.values()))
        if dongle is None:
            raise BleakDeviceNotFoundError(address, f"Device with address {address} was not found.")
        return dongle


class FakeBleClient(BaseBleakClient):
    """bleak backend client for one connection to a FakeDongle."""

    env: ClassVar[FakeBluetooth]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=float(kwargs.get("timeout", 10.0)),
        )
        self._dongle: FakeDongle | None = None
        self._session: Session | None = None
        self._callbacks: dict[int, NotifyCallback] = {}
        self._pump: asyncio.Task[None] | None = None
        self._rng = random.Random(0)

    @property
    def name(self) -> str:
        return self._dongle.name if self._dongle else self.address

    @property
    def mtu_size(self) -> int:
        return self._dongle.mtu if self._dongle else DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._session is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dongle = self.env.find(self.address)
        assert dongle.simulation is not None
        self._dongle = dongle
        self._rng = random.Random(dongle.seed)
        self.services = build_services(dongle.gatt, dongle.mtu - ATT_OVERHEAD)
        self._session = dongle.simulation.session()
        self.env.connected.setdefault(dongle.address.upper(), []).append(self)
        self._pump = asyncio.create_task(self._serve(self._session))

    async def disconnect(self) -> None:
        self._teardown()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    def _teardown(self) -> None:
        if self._dongle is not None:
            with contextlib.suppress(ValueError, KeyError):
                self.env.connected[self._dongle.address.upper()].remove(self)
        self._session = None
        self._callbacks.clear()

    def link_lost(self) -> None:
        """Unsolicited disconnect (dongle gone, or a drop fault): tell bleak's user."""
        was_connected = self.is_connected
        self._teardown()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        if was_connected and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _require(self) -> FakeDongle:
        if self._session is None or self._dongle is None:
            raise BleakError("Not connected")
        return self._dongle

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        if characteristic.uuid == MANUFACTURER_NAME:
            return bytearray(b"Baygate simulated ELM327")
        if "read" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} is not readable")
        return bytearray()

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        self._require()
        on = descriptor.characteristic_handle in self._callbacks
        return bytearray(b"\x01\x00" if on else b"\x00\x00")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        self._require()

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        dongle = self._require()
        if characteristic.uuid != dongle.gatt.write:
            raise BleakError(f"characteristic {characteristic.uuid} does not accept writes")
        payload = bytes(data)
        limit = dongle.mtu - ATT_OVERHEAD
        if not response and len(payload) > limit:
            # An ATT Write Command cannot be longer than MTU - 3; the stack rejects it.
            raise BleakError(f"write of {len(payload)} bytes exceeds the ATT payload size {limit}")
        assert self._session is not None
        await self._session.inbox.put(payload)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require()
        if "notify" not in characteristic.properties and "indicate" not in characteristic.properties:
            raise BleakError(f"characteristic {characteristic.uuid} does not notify")
        self._callbacks[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)

    async def _serve(self, session: Session) -> None:
        """Feed written bytes to the adapter and notify its replies, in order."""
        try:
            await session.serve(self._notify)
        except BleakError:
            pass  # notified after the link went down (vanish/disconnect)
        except Exception:
            log.exception("elm327 simulator BLE session failed; dropping the link")
        self.link_lost()  # serve returns only when a fault dropped the link

    async def _notify(self, data: bytes) -> None:
        dongle = self._require()
        limit = dongle.mtu - ATT_OVERHEAD
        while data:
            n = self._rng.randint(1, limit) if dongle.random_split else limit
            piece, data = data[:n], data[n:]
            # Notifications before start_notify are lost, as on a real peripheral.
            for callback in list(self._callbacks.values()):
                callback(bytearray(piece))
            await asyncio.sleep(0)


def fake_ble_backend(
    profile: str | Profile = "petrol-can",
    *,
    layout: str = "fff0",
    faults: Iterable[str] = (),
    rtt_ms: float = 0.0,
    ecu_ms: float = 0.0,
    timing: Timing | None = None,
    mtu: int = DEFAULT_MTU,
    random_split: bool = False,
    name: str = "OBDII",
    address: str = "AA:BB:CC:00:00:01",
    seed: int = 0,
    version: str | None = None,
    adapter: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> type[FakeBleClient]:
    """One dongle, reachable at any address: the shortest way to a backend class."""
    dongle = FakeDongle(
        address, name, layout, profile=profile, faults=faults, rtt_ms=rtt_ms, ecu_ms=ecu_ms,
        timing=timing, mtu=mtu, random_split=random_split, seed=seed, version=version,
        adapter=adapter,
    )  # fmt: skip
    return FakeBluetooth([dongle], clock=clock, sleep=sleep, any_address=True).client


def demo_dongles(
    profile: str | Profile | None = None,
    *,
    rtt_ms: float = 0.0,
    ecu_ms: float = 0.0,
    random_split: bool = False,
) -> list[FakeDongle]:
    """A shop's neighbourhood: one dongle per known layout, one that hides its service.

    Each dongle is in its own car unless `profile` puts them all in that one; the link
    options (as `FakeDongle`'s) apply to every dongle.
    """
    neighbourhood = [
        ("AA:BB:CC:00:00:01", "Vgate iCar Pro", "fff0", -58, True, "petrol-can"),
        ("AA:BB:CC:00:00:02", "OBDII", "ffe0", -71, True, "diesel-can"),
        ("AA:BB:CC:00:00:03", "VEEPEAK", "18f0", -80, True, "iso9141-legacy"),
        ("AA:BB:CC:00:00:04", "OBDLink CX", "e7810a71", -66, False, "petrol-can"),
        ("AA:BB:CC:00:00:05", "ELM327 NUS", "nus", -88, True, "diesel-can"),
    ]
    return [
        FakeDongle(
            address,
            name,
            gatt,
            rssi,
            advertised,
            profile if profile is not None else car,
            rtt_ms=rtt_ms,
            ecu_ms=ecu_ms,
            random_split=random_split,
        )
        for address, name, gatt, rssi, advertised, car in neighbourhood
    ]


def fake_scanner_backend(dongles: Iterable[FakeDongle] | None = None) -> type[BaseBleakScanner]:
    """A scanner backend class advertising `dongles` (default: `demo_dongles()`)."""
    return FakeBluetooth(demo_dongles() if dongles is None else dongles).scanner
