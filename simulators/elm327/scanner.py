"""The fake BLE scanner backend: dongles of a FakeBluetooth advertise periodically."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

if TYPE_CHECKING:
    from .ble import FakeBluetooth

__all__ = ["FakeScanner", "make_scanner"]


class FakeScanner(BaseBleakScanner):
    """Reports every dongle of its environment once per advertising interval."""

    env: ClassVar[FakeBluetooth]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.create_task(self._advertise())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def advertise_once(self) -> None:
        for dongle in list(self.env.dongles.values()):
            uuids = [dongle.gatt.service] if dongle.advertise_service else []
            if not self.is_allowed_uuid(uuids):
                continue
            adv = AdvertisementData(
                local_name=dongle.name,
                manufacturer_data={},
                service_data={},
                service_uuids=uuids,
                tx_power=None,
                rssi=dongle.rssi,
                platform_data=(),
            )
            # details is a dict without "path" so bleak-retry-connector skips BlueZ lookups.
            details = {"fake": True, "layout": dongle.layout}
            device = self.create_or_update_device(dongle.address, dongle.address, dongle.name, details, adv)
            self.call_detection_callbacks(device, adv)

    async def _advertise(self) -> None:
        # The first advert comes after a yield so callbacks registered right after
        # start() (BleakScanner.advertisement_data, find_device_by_*) see it.
        while True:
            await asyncio.sleep(0)
            self.advertise_once()
            await asyncio.sleep(self.env.advert_interval_s)


def make_scanner(env: FakeBluetooth) -> type[FakeScanner]:
    return type("FakeScanner", (FakeScanner,), {"env": env})
