"""`ble://ADDRESS` / `ble://name=NAME` as a pyserial port (see urlhandler/__init__.py).

BLE needs an event loop; pyserial callers (python-OBD) are blocking. The port owns a
private loop in a daemon thread; each pyserial call runs one coroutine on it and waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import serial
from serial import SerialBase, SerialException
from serial.serialutil import PortNotOpenError

from drivers.obd2.errors import OBDError
from drivers.obd2.transports import transport_for_url
from drivers.obd2.transports.ble import BleTransport
from drivers.obd2.urlhandler import settings

__all__ = ["Serial"]

T = TypeVar("T")
# Connecting includes a BLE scan (5 s) and bleak-retry-connector's retries.
_OPEN_S = 60.0


class Serial(SerialBase):  # type: ignore[misc]
    """A pyserial port backed by BleTransport."""

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _transport: BleTransport | None = None
    _rx: bytearray

    def open(self) -> None:
        if getattr(self, "is_open", False):
            raise SerialException("port already open")
        self._rx = bytearray()
        url = self.portstr or ""
        try:
            transport = transport_for_url(
                url, ble_backend=settings["backend"], ble_scanner_backend=settings["scanner_backend"]
            )
        except OBDError as exc:
            raise SerialException(str(exc)) from exc
        if not isinstance(transport, BleTransport):
            raise SerialException(f"{url!r} is not a ble:// URL")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ble-serial", daemon=True)
        self._thread.start()
        self._transport = transport
        try:
            self._run(transport.open(), _OPEN_S)
        except (OBDError, concurrent.futures.TimeoutError) as exc:
            self._stop()
            raise SerialException(f"{url}: {exc}") from exc
        self.is_open = True

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            loop.close()

    def close(self) -> None:
        if self._transport is not None and self._loop is not None:
            # Closing must not raise: the dongle may already be gone.
            with contextlib.suppress(Exception):
                self._run(self._transport.close(), 10)
        self._transport = None
        self._stop()
        self.is_open = False

    def _reconfigure_port(self) -> None:
        """Baud rate, parity and the like mean nothing over BLE."""

    def _pull(self, wait: float) -> None:
        assert self._transport is not None
        try:
            self._rx += self._run(self._transport.read_some(wait), wait + 5)
        except OBDError as exc:
            raise SerialException(str(exc)) from exc

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        if not self._rx:
            self._pull(0)
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while len(self._rx) < size:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                break
            self._pull(min(remaining, 1.0))
        data = bytes(self._rx[:size])
        del self._rx[:size]
        return data

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        assert self._transport is not None
        try:
            self._run(self._transport.write(bytes(data)), 30)
        except OBDError as exc:
            raise SerialException(str(exc)) from exc
        return len(data)

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        self._rx.clear()
        if self._transport is not None:
            self._pull(0)
            self._rx.clear()

    def reset_output_buffer(self) -> None:
        """Writes are sent at once; nothing is buffered."""

    def flush(self) -> None:
        """Writes complete before write() returns."""

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True


_ = serial  # pyserial must be importable for this module to be a handler
