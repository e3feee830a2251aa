"""Protocols beyond the bundled profiles' own (issue 14 item 3): CAN 29-bit at 500 and
11-bit at 250 kbit/s, and the count digit on a headers-off adapter where it is safe."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from drivers.obd2 import diagnostics as diag
from drivers.obd2.frames import Framing, guess_protocol, j1850_crc
from drivers.obd2.pids import BY_CODE
from drivers.obd2.report import read_report
from drivers.obd2.session import Quirk, Session
from drivers.obd2.transports import Transport, transport_for_url
from simulators.elm327 import load_profile, serve_tcp
from tests.support.obd import FAST

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("profile", "protocol", "framing"), [("truck-can29", 7, Framing.CAN29), ("petrol-can", 8, Framing.CAN11)]
)
async def test_can_at_the_other_bit_rate(profile: str, protocol: int, framing: Framing) -> None:
    car = dataclasses.replace(load_profile(profile), protocol=protocol)
    async with serve_tcp(profile=car, timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="p")
        await s.connect()
        try:
            assert (s.protocol, s.framing) == (str(protocol), framing)
            rep = await read_report(s)
        finally:
            await s.close()
    assert rep.errors == [] and rep.vin == car.vin
    assert rep.ecus == sorted(f"{e.can_id:03X}" for e in car.ecus)


async def test_headers_off_uses_the_count_digit_when_one_ecu_answers() -> None:
    car = copy.deepcopy(load_profile("petrol-can"))
    car.ecus = car.ecus[:1]  # the engine alone on the bus
    sent: list[str] = []
    async with serve_tcp(profile=car, timing=FAST, adapter="headers-refused") as srv:

        def factory() -> Transport:
            t = transport_for_url(srv.url)
            write = t.write

            async def recorded(data: bytes) -> None:
                sent.append(data.decode().strip())
                await write(data)

            t.write = recorded  # type: ignore[method-assign]
            return t

        s = Session(factory, dongle="p")
        await s.connect()
        try:
            assert Quirk.NO_HEADERS in s.quirks and s.responders == 1
            assert (await diag.read_vin(s))[0] == car.vin
            readings = await diag.read_pids(s, [BY_CODE[0x0C], BY_CODE[0x0D]])
        finally:
            await s.close()
    assert "09023" in sent  # a VIN is 3 CAN frames: the adapter stops waiting after them
    assert any(c.startswith("010C0D") and len(c) == 7 for c in sent)
    assert {r.pid.name for r in readings} == {"RPM", "SPEED"}


async def test_headers_off_with_two_ecus_sends_no_count_digit() -> None:
    sent: list[str] = []
    async with serve_tcp(profile="petrol-can", timing=FAST, adapter="headers-refused") as srv:
        t = transport_for_url(srv.url)
        write = t.write

        async def recorded(data: bytes) -> None:
            sent.append(data.decode().strip())
            await write(data)

        t.write = recorded  # type: ignore[method-assign]
        s = Session(t, dongle="p")
        await s.connect()
        try:
            assert s.responders == 2
            await diag.read_vin(s)
        finally:
            await s.close()
    assert "0902" in sent


def test_protocol_guessed_from_headers() -> None:
    assert guess_protocol(["18 DA F1 10 06 41 00 BE 3E B8 11"]) == "7"
    assert guess_protocol(["7E8 06 41 00 BE 3E B8 11"]) == "6"
    body = bytes.fromhex("486B104100BE3EB811")
    assert guess_protocol([(body + bytes([sum(body) & 0xFF])).hex()]) == "3"  # a sum: ISO 9141-2
    assert guess_protocol([(body + bytes([j1850_crc(body)])).hex()]) == "2"  # a CRC: J1850 VPW
    assert guess_protocol(["41 6B 10 41 00 BE 3E B8 11 00"]) == "1"
    assert guess_protocol(["86 F1 10 41 00 BE 3E B8 11 5B"]) == "5"
    assert guess_protocol(["41 00 BE 3E B8 11"]) is None  # headers off: no guess


async def test_an_adapter_without_the_count_digit_teaches_the_session_once() -> None:
    # A v1.2-class chip behind a clone banner: identify() cannot know; the first '?' to
    # a request with the digit does, and the session never sends the digit again.
    sent: list[str] = []
    async with serve_tcp(
        profile="petrol-can", timing=FAST, adapter="genuine-v1.2", version="ELM327 v1.5"
    ) as srv:
        t = transport_for_url(srv.url)
        write = t.write

        async def recorded(data: bytes) -> None:
            sent.append(data.decode().strip())
            await write(data)

        t.write = recorded  # type: ignore[method-assign]
        s = Session(t, dongle="p")
        await s.connect()
        try:
            assert s.adapter.kind == "clone"
            vin, _ = await diag.read_vin(s)
            await diag.read_pids(s, [BY_CODE[0x0C]])
        finally:
            await s.close()
    assert vin == "1FTFW1ET9DFC10312" and Quirk.NO_COUNT_DIGIT in s.quirks
    with_digit = [c for c in sent if c[:2] in ("01", "09") and len(c) % 2]
    assert len(with_digit) == 1  # one '?', then never again
