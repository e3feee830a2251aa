"""`serial:///dev/ttyUSB0[?baud=N]`: USB/RS-232 ELM327 adapters, and the simulator's pty.

pyserial is blocking, so every call runs in a thread. Without `?baud=`, the baud rate
is found by probing: clones ship at 38400 (most), 9600 (genuine v1.x default) or
115200; a bare CR makes any ELM at the right speed answer with a prompt, and at the
wrong speed we read framing garbage or nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drivers.obd2.errors import ConnectFailed, DongleNotFound, LinkLost
from drivers.obd2.transports.base import Transport

__all__ = ["BAUD_RATES", "SerialTransport"]

BAUD_RATES = (38400, 9600, 115200, 57600, 230400, 500000, 19200)
# Per read call in the thread: the deadline in read_reply is honoured to within this.
_POLL_S = 0.02
# A prompt after a bare CR takes an adapter < 100 ms; 0.4 s covers slow clones.
_PROBE_S = 0.4


class SerialTransport(Transport):
    def __init__(self, device: str, baud: int | None = None, *, bauds: tuple[int, ...] = BAUD_RATES) -> None:
        super().__init__()
        self.device, self.baud, self.bauds = device, baud, bauds
        self.description = f"serial://{device}"
        self._ser: Any = None

    async def open(self) -> None:
        self._ser = await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> Any:
        import serial

        candidates = (self.baud,) if self.baud else self.bauds
        for baud in candidates:
            try:
                ser = serial.Serial(self.device, baud, timeout=_POLL_S, write_timeout=2.0)
            except serial.SerialException as exc:
                if "No such file" in str(exc) or "could not open" in str(exc):
                    raise DongleNotFound(f"{self.description}: {exc}") from exc
                raise ConnectFailed(f"{self.description}: {exc}") from exc
            try:
                if self.baud or _probe(ser):
                    self.baud = baud
                    return ser
            except (serial.SerialException, OSError) as exc:
                ser.close()
                raise ConnectFailed(f"{self.description}: {exc}") from exc
            ser.close()
        raise ConnectFailed(f"{self.description}: no ELM327 prompt at {', '.join(map(str, candidates))} baud")

    async def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            await asyncio.to_thread(ser.close)

    async def write(self, data: bytes) -> None:
        ser = self._ser
        if ser is None:
            raise LinkLost(f"{self.description}: not connected")
        try:
            await asyncio.to_thread(ser.write, data)
        except Exception as exc:  # serial.SerialException, OSError: unplugged
            raise LinkLost(f"{self.description}: write failed: {exc}") from exc

    async def _read_some(self, wait_s: float) -> bytes:
        ser = self._ser
        if ser is None:
            raise LinkLost(f"{self.description}: not connected")
        try:
            data: bytes = await asyncio.to_thread(_read_sync, ser, wait_s)
        except Exception as exc:  # serial.SerialException, OSError: unplugged
            raise LinkLost(f"{self.description}: read failed: {exc}") from exc
        return data


def _read_sync(ser: Any, wait_s: float) -> bytes:
    end = time.monotonic() + wait_s
    while True:
        first: bytes = ser.read(1)
        if first:
            rest: bytes = ser.read(ser.in_waiting or 0)
            return first + rest
        if time.monotonic() >= end:
            return b""


def _probe(ser: Any) -> bool:
    ser.reset_input_buffer()
    ser.write(b"\r")
    end = time.monotonic() + _PROBE_S
    seen = b""
    while time.monotonic() < end:
        seen += ser.read(64)
        if b">" in seen:
            ser.reset_input_buffer()
            return True
    return False
