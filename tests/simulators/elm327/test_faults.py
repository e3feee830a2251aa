"""Every fault mode behaves as documented, observed over real TCP or at the shaper."""

from __future__ import annotations

import asyncio

import pytest

from simulators.elm327 import FAULTS, UnknownFaultError, parse_faults, serve_tcp
from simulators.elm327.faults import Close
from simulators.elm327.timing import Chunk, Reply
from tests.support.elm327 import FakeClock, RawClient, instant, reply_lines

pytestmark = pytest.mark.anyio

# How long a test listens for bytes that must NOT come (absence, not a timing claim).
QUIET_S = 0.3


async def quick_init(c: RawClient) -> None:
    for cmd in ("ATE0", "ATSP6", "ATSH7E0"):
        await c.ask(cmd)


async def test_silent_adapter_never_answers() -> None:
    async with serve_tcp(faults=["silent"]) as server:
        c = await RawClient.connect(server.port)
        await c.send(b"ATZ\r")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(QUIET_S):
                await c.reader.read(1)
        await c.close()


async def test_drop_closes_the_link_halfway_through_the_nth_obd_reply() -> None:
    async with serve_tcp(faults=["drop:2"], **instant()) as server:
        c = await RawClient.connect(server.port)
        await quick_init(c)
        assert await c.lines("0902") != []  # OBD reply 1 is whole
        await c.send(b"0902\r")
        async with asyncio.timeout(5):
            rest = await c.reader.read()  # until EOF: the server closed mid-reply
        assert rest and b">" not in rest
        assert len(rest) < len(b"014\r0: 49 02 01 31 46 54 \r1: 46 57 31 45 54 39 44 \r")
        await c.close()
        # A new connection gets a new adapter: usable again until its own 2nd OBD reply.
        c = await RawClient.connect(server.port)
        await quick_init(c)
        assert (await c.lines("010D"))[0].startswith("41 0D")
        await c.close()


async def test_garbage_inserts_bytes_but_keeps_the_prompt() -> None:
    async with serve_tcp(faults=["garbage:1"]) as server:
        c = await RawClient.connect(server.port)
        clean = b"OK\r\r>"
        replies = [await c.ask("ATE0") for _ in range(5)]
        assert all(r.endswith(b">") and r.count(b">") == 1 for r in replies)
        assert all(r != clean and len(r) - len(clean) in range(1, 5) for r in replies[1:])
        await c.close()


async def test_nodata_bursts_over_tcp() -> None:
    async with serve_tcp(faults=["nodata:2"], **instant()) as server:
        c = await RawClient.connect(server.port)
        await quick_init(c)
        got = [await c.lines("010D") for _ in range(10)]
        assert [i + 1 for i, g in enumerate(got) if g == ["NO DATA"]] == [9, 10]
        await c.close()


async def test_echo_sticks() -> None:
    async with serve_tcp(faults=["echo"]) as server:
        c = await RawClient.connect(server.port)
        assert await c.ask("ATE0") == b"ATE0\rOK\r\r>"
        assert await c.ask("ATI") == b"ATI\rELM327 v1.5\r\r>"
        await c.close()


async def test_noprompt_after_errors_only() -> None:
    async with serve_tcp(faults=["noprompt"], **instant()) as server:
        c = await RawClient.connect(server.port)
        await quick_init(c)
        await c.send(b"0160\r")  # NO DATA, then no prompt
        async with asyncio.timeout(5):
            assert await c.reader.readuntil(b"NO DATA\r\r") == b"NO DATA\r\r"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(QUIET_S):
                await c.reader.readuntil(b">")
        assert (await c.lines("010D"))[0].startswith("41 0D")  # data replies keep their prompt
        await c.close()


async def test_h1_not_ok_leaves_headers_off() -> None:
    async with serve_tcp(faults=["h1-not-ok"]) as server:
        c = await RawClient.connect(server.port)
        await quick_init(c)
        assert await c.lines("ATH1") == ["?"]
        assert (await c.lines("010D"))[0].startswith("41 0D")
        await c.close()


async def test_stall_pauses_halfway_through_every_fifth_obd_reply() -> None:
    clock = FakeClock()
    async with serve_tcp(faults=["stall:7"], clock=clock, sleep=clock.sleep) as server:
        c = await RawClient.connect(server.port)
        await quick_init(c)
        for n in range(1, 9):
            clock.slept.clear()
            assert (await c.lines("010D"))[0].startswith("41 0D")
            assert (7.0 in clock.slept) == (n in (3, 8)), n
        await c.close()


def test_split_cuts_replies_into_small_pieces_in_order() -> None:
    shaper = parse_faults(["split:3"]).shaper(seed=1)
    reply = Reply("0902", (Chunk(0.5, b"014\r0: 49 02 01 31 46 54 \r"), Chunk(0.2, b"\r"), Chunk(0.0, b">")))
    actions = shaper.shape(reply)
    assert all(isinstance(a, Chunk) and 1 <= len(a.data) <= 3 for a in actions)
    assert b"".join(a.data for a in actions if isinstance(a, Chunk)) == reply.data
    assert sum(a.delay_s for a in actions if isinstance(a, Chunk)) == pytest.approx(0.7)


def test_drop_at_the_shaper_ends_with_close() -> None:
    shaper = parse_faults(["drop:1"]).shaper()
    reply = Reply("010D", (Chunk(0.0, b"41 0D 30 \r\r"), Chunk(0.0, b">")), obd=True)
    actions = shaper.shape(reply)
    assert isinstance(actions[-1], Close)
    sent = b"".join(a.data for a in actions if isinstance(a, Chunk))
    assert sent == reply.data[: len(reply.data) // 2]


async def test_split_over_tcp_still_reassembles_to_the_same_reply() -> None:
    async with serve_tcp(faults=["split:2"], **instant()) as server, serve_tcp(**instant()) as clean:
        a = await RawClient.connect(server.port)
        b = await RawClient.connect(clean.port)
        for c in (a, b):
            await quick_init(c)
        assert reply_lines(await a.ask("0902")) == reply_lines(await b.ask("0902"))
        await a.close()
        await b.close()


def test_fault_names_and_parameters_are_checked() -> None:
    assert set(FAULTS) == {
        "silent",
        "drop",
        "split",
        "garbage",
        "nodata",
        "echo",
        "noprompt",
        "h1-not-ok",
        "stall",
        "nocar",
        "engine-off",
        "clear-needs-engine-off",
    }
    faults = parse_faults(["split", "nodata:5", "echo"])
    assert faults.active == {"split": 7, "nodata": 5, "echo": 0}
    assert faults.quirks().echo_sticks
    with pytest.raises(UnknownFaultError):
        parse_faults(["meteor"])
    with pytest.raises(UnknownFaultError):
        parse_faults(["drop:soon"])


async def test_nocar_means_unable_to_connect_and_bus_errors() -> None:
    async with serve_tcp(faults=["nocar"], **instant()) as server:
        c = await RawClient.connect(server.port)
        await c.ask("ATE0")
        assert await c.lines("0100") == ["SEARCHING...", "UNABLE TO CONNECT"]
        await c.ask("ATSP6")
        assert await c.lines("0100") == ["CAN ERROR"]
        await c.ask("ATSP3")
        assert await c.lines("0100") == ["BUS INIT: ...ERROR"]
        await c.close()
