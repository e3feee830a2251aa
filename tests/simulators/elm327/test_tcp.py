"""The simulator over real TCP sockets, spoken to with raw bytes only."""

from __future__ import annotations

import pytest

from simulators.elm327 import serve_tcp
from tests.support.elm327 import FakeClock, RawClient

pytestmark = pytest.mark.anyio


async def test_init_sequence_then_headers_and_multi_ecu() -> None:
    clock = FakeClock()
    async with serve_tcp(profile="petrol-can", clock=clock, sleep=clock.sleep) as server:
        assert server.port > 0
        c = await RawClient.connect(server.port)
        assert await c.ask("ATZ") == b"ATZ\r\r\rELM327 v1.5\r\r>"
        assert await c.ask("ATE0") == b"ATE0\rOK\r\r>"
        assert await c.ask("ATL0") == b"OK\r\r>"
        assert await c.ask("ATS1") == b"OK\r\r>"
        assert await c.ask("ATH1") == b"OK\r\r>"
        assert await c.ask("ATSP0") == b"OK\r\r>"
        lines = await c.lines("0100")
        assert lines[0] == "SEARCHING..."
        assert [ln[:9] for ln in lines[1:]] == ["7E8 06 41", "7E9 06 41"]
        assert await c.lines("ATDPN") == ["A6"]
        assert await c.lines("ATDP") == ["AUTO, ISO 15765-4 (CAN 11/500)"]
        await c.close()


async def test_vin_multiframe_decodes_to_profile_vin() -> None:
    async with serve_tcp(profile="petrol-can") as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATH1", "ATSP6"):
            await c.ask(cmd)
        frames = [bytes.fromhex(ln[4:]) for ln in await c.lines("0902")]
        assert frames[0][0] >> 4 == 1  # ISO-TP first frame
        size = ((frames[0][0] & 0x0F) << 8) | frames[0][1]
        payload = frames[0][2:] + b"".join(f[1:] for f in frames[1:])
        assert [f[0] for f in frames[1:]] == [0x21, 0x22]
        message = payload[:size]
        assert message[:3] == b"\x49\x02\x01"
        assert message[3:].decode() == server.simulation.profile.vin == "1FTFW1ET9DFC10312"
        await c.close()
