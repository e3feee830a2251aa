"""`ble://ADDRESS` and `ble://name=NAME`: BLE OBD dongles through bleak.

The dongle's UART-like characteristic pair is chosen by gatt.pick_characteristics.
Writes are chunked to the characteristic's max_write_without_response_size (20 bytes
on older BlueZ: ATT MTU 23 minus 3); replies arrive as notifications split at
arbitrary points and are reassembled by the prompt buffer until `>`.

`backend=` is handed to BleakClient (and `scanner_backend=` to BleakScanner)
unchanged: production leaves them None (BlueZ on the Pi), tests pass the ELM327
simulator's fake backends so this exact code runs above them. Whenever the device
came from a scan (a BLEDevice), the connection goes through bleak-retry-connector's
establish_connection (4 attempts with backoff over BlueZ's transient failures); it
works with the fake backend too (checked: its BlueZ D-Bus lookups are skipped for a
device without a BlueZ path). A bare address with a fake client backend and no fake
scanner is connected directly: there is nothing to scan with.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from drivers.obd2.errors import ConnectFailed, DongleNotFound, LinkLost
from drivers.obd2.transports.base import Transport
from drivers.obd2.transports.gatt import CharInfo, pick_characteristics

__all__ = ["BleTransport"]

_NO_BLUEZ = (
    "BlueZ is not reachable over D-Bus: start it (sudo systemctl start dbus bluetooth), "
    "check the adapter (bluetoothctl show), or use a tcp:// or serial:// dongle"
)


def scan_failure(exc: BaseException) -> str:
    """What a failed BLE scan means for the operator. Without BlueZ, bleak's D-Bus
    connect fails with a bare "[Errno 2] No such file or directory" (the system bus
    socket) or a ServiceUnknown for org.bluez: say what to start instead."""
    text = str(exc)
    no_bus = isinstance(exc, FileNotFoundError | ConnectionRefusedError)
    if no_bus or "org.bluez" in text or "ServiceUnknown" in text:
        return f"{_NO_BLUEZ} ({type(exc).__name__}: {text})"
    return f"BLE scan failed: {text}"


# 20 bytes: the ATT payload of the default 23-byte MTU, safe on every BlueZ version.
DEFAULT_CHUNK = 20
# A full reply is < 1 KiB (see elm327.MAX_REPLY_BYTES for the hard limit).
_MAX_BUFFERED = 65536


class BleTransport(Transport):
    def __init__(
        self,
        address: str | None = None,
        *,
        name: str | None = None,
        layout: str | None = None,
        backend: Any = None,
        scanner_backend: Any = None,
        scan_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        use_retry_connector: bool | None = None,
    ) -> None:
        super().__init__()
        if not address and not name:
            raise ValueError("BleTransport needs an address or a name")
        self.address, self.name, self.layout = address, name, layout
        self.backend, self.scanner_backend = backend, scanner_backend
        self.scan_timeout, self.connect_timeout = scan_timeout, connect_timeout
        self.use_retry_connector = True if use_retry_connector is None else use_retry_connector
        self.description = f"ble://{address}" if address else f"ble://name={name}"
        self._client: BleakClient | None = None
        self._writer: BleakGATTCharacteristic | None = None
        self._with_response = False
        self._chunk = DEFAULT_CHUNK
        self._rx = bytearray()
        self._rx_event = asyncio.Event()
        self._lost: str | None = None

    async def _find(self) -> BLEDevice:
        kwargs: dict[str, Any] = {}
        if self.scanner_backend is not None:
            kwargs["backend"] = self.scanner_backend
        try:
            if self.address:
                dev = await BleakScanner.find_device_by_address(self.address, self.scan_timeout, **kwargs)
            else:
                assert self.name is not None
                dev = await BleakScanner.find_device_by_name(self.name, self.scan_timeout, **kwargs)
        except (BleakError, OSError) as exc:
            raise ConnectFailed(f"{self.description}: {scan_failure(exc)}") from exc
        if dev is None:
            raise DongleNotFound(f"{self.description}: not seen in a {self.scan_timeout:.0f} s BLE scan")
        return dev

    async def open(self) -> None:
        self._lost = None
        self._rx.clear()
        device: BLEDevice | str
        if self.scanner_backend is not None or self.name or self.backend is None:
            device = await self._find()
        else:
            device = self.address or ""
        try:
            self._client = await self._connect(device)
            reader, writer = self._choose()
            self._writer = writer.obj
            self._with_response = "write-without-response" not in writer.properties
            size = getattr(self._writer, "max_write_without_response_size", DEFAULT_CHUNK)
            self._chunk = size if isinstance(size, int) and size > 0 else DEFAULT_CHUNK
            await self._client.start_notify(reader.obj, self._on_notify)
        except (BleakError, OSError, TimeoutError) as exc:
            await self.close()
            raise ConnectFailed(f"{self.description}: {exc or type(exc).__name__}") from exc
        except ConnectFailed:
            await self.close()
            raise

    async def _connect(self, device: BLEDevice | str) -> BleakClient:
        kwargs: dict[str, Any] = {}
        if self.backend is not None:
            kwargs["backend"] = self.backend
        if self.use_retry_connector and isinstance(device, BLEDevice):
            from bleak_retry_connector import establish_connection

            client: BleakClient = await establish_connection(
                BleakClient, device, self.description, disconnected_callback=self._on_disconnect, **kwargs
            )
            return client
        client = BleakClient(
            device, disconnected_callback=self._on_disconnect, timeout=self.connect_timeout, **kwargs
        )
        await client.connect()
        return client

    def _choose(self) -> tuple[_Char, _Char]:
        assert self._client is not None
        infos: list[CharInfo] = []
        objs: dict[int, BleakGATTCharacteristic] = {}
        for service in self._client.services:
            for ch in service.characteristics:
                info = CharInfo(service.uuid, ch.uuid, frozenset(ch.properties), len(infos))
                objs[info.handle] = ch
                infos.append(info)
        picked = pick_characteristics(infos, self.layout)
        if picked is None:
            raise ConnectFailed(f"{self.description}: no notify/write characteristic pair in its GATT table")
        r, w = picked
        return _Char(objs[r.handle], r.properties), _Char(objs[w.handle], w.properties)

    def _on_notify(self, _sender: Any, data: bytearray) -> None:
        if len(self._rx) + len(data) > _MAX_BUFFERED:
            self._rx.clear()  # the prompt buffer reports the overflow as a ProtocolError
        self._rx += data
        self._rx_event.set()

    def _on_disconnect(self, _client: Any) -> None:
        self._lost = "the dongle disconnected"
        self._rx_event.set()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await client.disconnect()

    async def write(self, data: bytes) -> None:
        if self._client is None or self._writer is None or self._lost:
            raise LinkLost(f"{self.description}: {self._lost or 'not connected'}")
        try:
            for i in range(0, len(data), self._chunk):
                await self._client.write_gatt_char(
                    self._writer, data[i : i + self._chunk], response=self._with_response
                )
        except (BleakError, OSError, EOFError) as exc:
            raise LinkLost(f"{self.description}: write failed: {exc}") from exc

    async def _read_some(self, wait_s: float) -> bytes:
        if not self._rx:
            if self._lost:
                raise LinkLost(f"{self.description}: {self._lost}")
            self._rx_event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._rx_event.wait()
        data = bytes(self._rx)
        self._rx.clear()
        if not data and self._lost:
            raise LinkLost(f"{self.description}: {self._lost}")
        return data


class _Char:
    def __init__(self, obj: BleakGATTCharacteristic, properties: frozenset[str]) -> None:
        self.obj = obj
        self.properties = properties
