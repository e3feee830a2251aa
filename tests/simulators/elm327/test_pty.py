"""The simulator behind a pty, opened with pyserial as a USB adapter would be."""

from __future__ import annotations

import asyncio

import pytest
import serial

from simulators.elm327 import serve_pty
from tests.support.elm327 import instant

pytestmark = pytest.mark.anyio


def converse(path: str, commands: list[bytes]) -> list[bytes]:
    """Blocking pyserial client: each reply read until the '>' prompt."""
    replies = []
    with serial.serial_for_url(path, baudrate=38400, timeout=5) as port:
        for cmd in commands:
            port.write(cmd + b"\r")
            replies.append(port.read_until(b">"))
    return replies


async def test_pyserial_talks_to_the_pty() -> None:
    async with serve_pty(profile="iso9141-legacy", **instant()) as pty:
        assert pty.path.startswith("/dev/pts/")
        assert pty.url == f"serial://{pty.path}"
        replies = await asyncio.to_thread(
            converse, pty.path, [b"ATZ", b"ATE0", b"ATH1", b"ATSP0", b"0100", b"ATDPN"]
        )
    assert replies[0] == b"ATZ\r\r\rELM327 v1.5\r\r>"
    assert replies[1] == b"ATE0\rOK\r\r>"
    assert replies[4].startswith(b"SEARCHING...\r48 6B 10 41 00 ")
    assert replies[5] == b"A3\r\r>"


async def test_a_drop_fault_on_a_serial_line_resets_the_adapter() -> None:
    async with serve_pty(faults=["drop:1"], **instant()) as pty:
        replies = await asyncio.to_thread(converse, pty.path, [b"ATE0", b"ATSP6"])
        assert replies == [b"ATE0\rOK\r\r>", b"OK\r\r>"]

        def half_then_fresh() -> tuple[bytes, bytes]:
            with serial.serial_for_url(pty.path, timeout=0.5) as port:
                port.write(b"0100\r")
                half = port.read_until(b">")  # times out: half a reply, no prompt
                port.timeout = 5
                port.write(b"ATI\r")
                return half, port.read_until(b">")

        half, after = await asyncio.to_thread(half_then_fresh)
    assert half and b">" not in half
    assert after == b"ATI\rELM327 v1.5\r\r>"  # a fresh adapter: echo on again
