"""The simulator over real TCP sockets, spoken to with raw bytes only."""

from __future__ import annotations

import asyncio

import pytest

from simulators.elm327 import serve_tcp
from tests.support.elm327 import FakeClock, RawClient, instant

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
    async with serve_tcp(profile="petrol-can", **instant()) as server:
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


async def test_count_digit_short_circuits_the_st_wait_on_the_injected_clock() -> None:
    clock = FakeClock()
    async with serve_tcp(rtt_ms=30, ecu_ms=15, clock=clock, sleep=clock.sleep) as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATH1", "ATSP6"):
            await c.ask(cmd)
        start = clock.now
        await c.ask("010C")
        without = clock.now - start
        start = clock.now
        lines = await c.lines("010C1")
        with_count = clock.now - start
        assert [ln[:3] for ln in lines] == ["7E8"]
        assert without == pytest.approx(0.030 + 0.015 + 0.200)
        assert with_count == pytest.approx(0.030 + 0.015)
        await c.close()


async def test_clear_codes_is_remembered_by_the_car_across_connections() -> None:
    async with serve_tcp(profile="petrol-can", faults=["engine-off"], **instant()) as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
            await c.ask(cmd)
        assert await c.lines("03") == ["43 02 03 01 01 33"]
        assert await c.lines("04") == ["44"]
        await c.close()
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
            await c.ask(cmd)
        assert await c.lines("03") == ["43 00"]
        await c.close()


async def test_two_clients_at_once_get_their_own_adapter_state() -> None:
    async with serve_tcp() as server:
        a = await RawClient.connect(server.port)
        b = await RawClient.connect(server.port)
        await a.ask("ATE0")
        assert await b.ask("ATI") == b"ATI\rELM327 v1.5\r\r>"  # b still echoes
        assert await a.ask("ATI") == b"ELM327 v1.5\r\r>"
        await a.close()
        await b.close()


async def test_live_values_follow_the_injected_clock() -> None:
    clock = FakeClock()
    async with serve_tcp(clock=clock, sleep=clock.sleep) as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
            await c.ask(cmd)
        # With the count digit and a zero-latency model no simulated time passes...
        first = await c.lines("010C1")
        assert await c.lines("010C1") == first
        # ...and the sine-driven rpm changes once the clock moves on.
        clock.now += 4.0
        assert await c.lines("010C1") != first
        await c.close()


async def test_a_command_sent_before_the_prompt_interrupts_with_stopped() -> None:
    async with serve_tcp(profile="petrol-can") as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0", "0100"):
            await c.ask(cmd)
        # Two requests in one write: the second interrupts the first and is lost.
        await c.send(b"010C\r010D\r")
        async with asyncio.timeout(5):
            stopped = await c.reader.readuntil(b">")
        assert stopped.endswith(b"STOPPED\r\r>")
        assert b"41 0D" not in stopped
        assert await c.lines("ATI") == ["ELM327 v1.5"]
        # Sending during the ATST wait (data shown, prompt not yet): STOPPED too.
        await c.send(b"010C\r")
        async with asyncio.timeout(5):
            first = await c.reader.readuntil(b"\r")
        assert first.startswith(b"41 0C ")
        await c.send(b"0105\r")
        async with asyncio.timeout(5):
            assert (await c.reader.readuntil(b">")).endswith(b"STOPPED\r\r>")
        # Waiting for the prompt each time, as the datasheet says, never interrupts.
        for _ in range(3):
            assert (await c.lines("010D"))[0].startswith("41 0D")
        await c.close()


async def test_the_cars_clock_keeps_running_across_reconnects() -> None:
    clock = FakeClock()
    async with serve_tcp(clock=clock, sleep=clock.sleep) as server:
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
            await c.ask(cmd)
        clock.now += 100.0
        before = await c.lines("011F1")  # run time since engine start
        await c.close()
        c = await RawClient.connect(server.port)
        for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
            await c.ask(cmd)
        after = await c.lines("011F1")
        await c.close()
    seconds = [int(lines[0].replace(" ", "")[4:], 16) for lines in (before, after)]
    assert seconds[0] == 100  # not reset by the reconnect
    assert seconds[1] >= seconds[0]
