"""GATT layouts of BLE OBD dongles seen in the field, as bleak service collections.

Each layout names the service and its reader (notify) / writer characteristics. A Device
Information service (read-only) is always present too, so a client that picks
characteristics by property must skip characteristics it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection

from .errors import SimulatorError

__all__ = ["LAYOUTS", "GattLayout", "build_services"]


def _sig(short: str) -> str:
    """A 16-bit SIG UUID in its 128-bit form, as bleak normalises them."""
    return f"0000{short.lower()}-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True)
class GattLayout:
    name: str
    service: str
    notify: str
    write: str
    description: str

    @property
    def shared(self) -> bool:
        """One characteristic for both directions (HM-10 style)."""
        return self.notify == self.write


LAYOUTS: dict[str, GattLayout] = {
    "fff0": GattLayout("fff0", _sig("fff0"), _sig("fff1"), _sig("fff2"), "Vgate iCar, Veepeak and clones"),
    "ffe0": GattLayout("ffe0", _sig("ffe0"), _sig("ffe1"), _sig("ffe1"), "HM-10 style, FFE1 both ways"),
    "18f0": GattLayout("18f0", _sig("18f0"), _sig("2af0"), _sig("2af1"), "18F0 with 2AF0 notify, 2AF1 write"),
    "e7810a71": GattLayout(
        "e7810a71",
        "e7810a71-73ae-499d-8c15-faa9aef0c3f2",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
        "OBDLink-style vendor service, one characteristic both ways",
    ),
    "nus": GattLayout(
        "nus",
        "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
        "6e400003-b5a3-f393-e0a9-e50e24dcca9e",
        "6e400002-b5a3-f393-e0a9-e50e24dcca9e",
        "Nordic UART service",
    ),
}

DEVICE_INFO = _sig("180a")
MANUFACTURER_NAME = _sig("2a29")
CCCD = _sig("2902")


def layout(name: str) -> GattLayout:
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise SimulatorError(f"unknown GATT layout {name!r} (known: {', '.join(LAYOUTS)})") from None


def build_services(gatt: GattLayout, write_size: int) -> BleakGATTServiceCollection:
    """The dongle's service collection, handles numbered like a small GATT server."""
    services = BleakGATTServiceCollection()

    def size() -> int:
        return write_size

    info = BleakGATTService(None, 0x0010, DEVICE_INFO)
    services.add_service(info)
    maker = BleakGATTCharacteristic(None, 0x0011, MANUFACTURER_NAME, ["read"], size, info)
    services.add_characteristic(maker)

    obd = BleakGATTService(None, 0x0020, gatt.service)
    services.add_service(obd)
    if gatt.shared:
        props = ["read", "write-without-response", "write", "notify"]
        both = BleakGATTCharacteristic(None, 0x0021, gatt.notify, props, size, obd)  # type: ignore[arg-type]
        services.add_characteristic(both)
        services.add_descriptor(BleakGATTDescriptor(None, 0x0022, CCCD, both))
        return services
    reader = BleakGATTCharacteristic(None, 0x0021, gatt.notify, ["notify"], size, obd)
    services.add_characteristic(reader)
    services.add_descriptor(BleakGATTDescriptor(None, 0x0022, CCCD, reader))
    writer = BleakGATTCharacteristic(None, 0x0023, gatt.write, ["write-without-response", "write"], size, obd)
    services.add_characteristic(writer)
    return services
