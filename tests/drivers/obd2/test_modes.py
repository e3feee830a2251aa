"""Mode 06 test results, Mode 09 CVNs and ECU names, Mode 04 clear (issue 14 item 4),
against the simulator over TCP, and python-OBD's Mode 06 decoder as a second opinion."""

from __future__ import annotations

import random

import obd
import pytest
from obd.protocols.protocol import Message

from drivers.obd2.diagnostics import read_dtcs
from drivers.obd2.errors import ClearRefused
from drivers.obd2.modes import clear_dtcs, read_ecu_info, read_monitor_tests
from drivers.obd2.monitors import _UAS, decode_tests, mid_name, scaling
from drivers.obd2.session import Session
from drivers.obd2.transports import transport_for_url
from simulators.elm327 import serve_tcp
from tests.support.obd import FAST

pytestmark = pytest.mark.anyio


async def test_monitor_tests_with_names_units_and_verdicts() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="m6")
        await s.connect()
        try:
            tests = await read_monitor_tests(s)
        finally:
            await s.close()
    car = srv.simulation.profile
    assert len(tests) == len(car.ecus[0].monitor_tests) == 18
    by = {(t.mid, t.tid): t for t in tests}
    cyl1 = by[(0xA2, 0x0C)]
    assert (cyl1.monitor, cyl1.value, cyl1.unit) == ("misfire cylinder 1", 187, "counts")
    assert cyl1.name == "misfire count, last/current driving cycle" and cyl1.ecu == "7E8"
    assert by[(0xA7, 0x0B)].monitor == "misfire cylinder 6"
    cat1, cat2 = by[(0x21, 0x80)], by[(0x22, 0x80)]
    assert cat1.monitor == "catalyst monitor bank 1" and not cat1.passed  # 0.703 > 0.602
    assert cat1.value == pytest.approx(180 / 256) and cat1.max == pytest.approx(154 / 256)
    assert cat2.passed
    o2 = by[(0x01, 0x01)]
    assert o2.monitor == "O2 sensor bank 1 sensor 1 monitor"
    assert (o2.unit, o2.value) == ("mV", pytest.approx(3686 * 0.122))
    assert o2.name == "rich to lean sensor threshold voltage" and o2.passed


async def test_legacy_bus_has_no_can_mode06() -> None:
    async with serve_tcp(profile="gm-vpw", timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="m6")
        await s.connect()
        try:
            assert await read_monitor_tests(s) == []
        finally:
            await s.close()


async def test_cvns_and_ecu_names_where_supported() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="m9")
        await s.connect()
        try:
            info = {i.ecu: i for i in await read_ecu_info(s)}
        finally:
            await s.close()
    assert info["7E8"].name == "ECM-EngineControl"
    assert info["7E8"].calibration_ids == ["DFC1-14C204-AB", "DFC1-12A650-CD"]
    assert info["7E8"].cvns == ["1A2B3C4D", "5E6F7081"]
    assert (info["7E9"].name, info["7E9"].cvns) == ("TCM-TransmissionCtl", ["9ABCDEF0"])


async def test_cvns_on_a_legacy_bus() -> None:
    async with serve_tcp(profile="iso9141-legacy", timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="m9")
        await s.connect()
        try:
            info = await read_ecu_info(s)
        finally:
            await s.close()
    assert [i.calibration_ids for i in info] == [["34870100"]]
    assert info[0].cvns == [] and info[0].name is None  # this ECU does not support them


async def test_clear_needs_confirmation_and_a_stopped_engine() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        s = Session(transport_for_url(srv.url), dongle="m4")
        await s.connect()
        try:
            with pytest.raises(ClearRefused, match="confirm"):
                await clear_dtcs(s, confirm=False)
            with pytest.raises(ClearRefused, match="engine runs"):
                await clear_dtcs(s, confirm=True)
            assert {d.code for d in await read_dtcs(s, "stored")} == {"P0301", "P0133"}  # untouched
        finally:
            await s.close()


async def test_clear_with_the_engine_off_clears_stored_and_pending() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["engine-off"]) as srv:
        s = Session(transport_for_url(srv.url), dongle="m4")
        await s.connect()
        try:
            result = await clear_dtcs(s, confirm=True)
            assert result.ecus == ["7E8", "7E9"] and result.refused == {}
            assert await read_dtcs(s, "stored") == [] and await read_dtcs(s, "pending") == []
            # Permanent DTCs survive Mode 04: only the ECU's own monitors erase them.
            assert {d.code for d in await read_dtcs(s, "permanent")} == {"P0301"}
        finally:
            await s.close()


@pytest.mark.parametrize("uas", sorted(u for u in _UAS if u in obd.UnitsAndScaling.UAS_IDS))
def test_mode06_scaling_agrees_with_python_obd(uas: int) -> None:
    """python-OBD (GPL, dev-only; read, not copied) decodes the same 9-byte blocks."""
    rng = random.Random(uas)
    for _ in range(20):
        block = bytes([0xA2, 0x0B, uas]) + bytes(rng.randrange(256) for _ in range(6))
        ours = decode_tests(b"\x46" + block)[0]
        msg = Message([])
        msg.data = bytearray(b"\x46" + block)
        theirs = obd.decoders.monitor([msg]).tests[0]
        for a, b in ((ours.value, theirs.value), (ours.min, theirs.min), (ours.max, theirs.max)):
            assert a == pytest.approx(b.magnitude, rel=1e-6, abs=1e-6), (hex(uas), block.hex())


def test_unknown_uas_and_mid_are_named_by_number() -> None:
    assert scaling(0x7E).unit == "UAS 0x7E"
    assert mid_name(0xEE) == "monitor 0xEE"
