"""python-OBD (a third-party client, dev dependency only) as a cross-check of realism.

If python-OBD, written against real adapters, can connect and decode our replies,
the simulator's framing is close enough to the real thing. The car's clock is frozen
at t=0 so live values are known: a sine generator sits at its midpoint.
"""

from __future__ import annotations

import asyncio
import logging

import obd
import pytest

from simulators.elm327 import serve_tcp

pytestmark = pytest.mark.anyio


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def frozen() -> float:
    return 0.0


def read_car(url: str) -> dict[str, object]:
    logging.getLogger("obd").setLevel(logging.CRITICAL)  # its logger is chatty at WARNING
    conn = obd.OBD(url, baudrate=38400, fast=False, timeout=5)  # a baud rate skips its probing
    try:
        vin = conn.query(obd.commands.VIN)
        status = conn.query(obd.commands.STATUS).value
        return {
            "status": conn.status(),
            "protocol": conn.protocol_id(),
            "rpm": conn.query(obd.commands.RPM).value.magnitude,
            "speed": conn.query(obd.commands.SPEED).value.magnitude,
            "coolant": conn.query(obd.commands.COOLANT_TEMP).value.magnitude,
            "dtcs": [code for code, _ in conn.query(obd.commands.GET_DTC).value],
            "mil": status.MIL,
            "dtc_count": status.DTC_count,
            "ignition": status.ignition_type,
            "vin_message": bytes(vin.messages[0].data) if vin.messages else b"",
            "vin_value": vin.value,
            "freeze_rpm_is_null": conn.query(obd.commands.DTC_RPM, force=True).is_null(),
            "supports_rpm": conn.supports(obd.commands.RPM),
        }
    finally:
        conn.close()


async def test_python_obd_reads_the_petrol_can_car() -> None:
    async with serve_tcp(profile="petrol-can", clock=frozen, sleep=no_wait) as server:
        car = await asyncio.to_thread(read_car, server.socket_url)
    assert car["status"] == obd.OBDStatus.CAR_CONNECTED
    assert car["protocol"] == "6"
    assert car["supports_rpm"]
    assert car["rpm"] == (750 + 3200) / 2
    assert car["speed"] == 48  # 0..96 km/h sine at its midpoint
    assert car["coolant"] == 70  # ramp start
    assert car["dtcs"] == ["P0301", "P0133"]
    assert (car["mil"], car["dtc_count"], car["ignition"]) == (True, 2, "spark")
    # python-OBD reassembles our ISO-TP frames into the right message...
    assert car["vin_message"][3:20] == b"1FTFW1ET9DFC10312"
    # ...and then its decoder strips the leading 1 and trailing 2 (its issues #275/#276).
    assert car["vin_value"] != "1FTFW1ET9DFC10312"
    # It asks Mode 02 without the frame number; a spec-following ECU does not answer.
    assert car["freeze_rpm_is_null"]


async def test_python_obd_reads_the_iso9141_car() -> None:
    async with serve_tcp(profile="iso9141-legacy", clock=frozen, sleep=no_wait) as server:
        car = await asyncio.to_thread(read_car, server.socket_url)
    assert car["status"] == obd.OBDStatus.CAR_CONNECTED
    assert car["protocol"] == "3"
    assert car["rpm"] == (700 + 2800) / 2
    assert car["dtcs"] == ["P0171", "P0300", "P0420", "P0442"]
    assert (car["mil"], car["dtc_count"]) == (True, 4)


async def test_python_obd_reads_the_kwp2000_car() -> None:
    async with serve_tcp(profile="kwp-fast", clock=frozen, sleep=no_wait) as server:
        car = await asyncio.to_thread(read_car, server.socket_url)
    assert car["status"] == obd.OBDStatus.CAR_CONNECTED
    assert car["protocol"] == "5"
    assert car["rpm"] == (780 + 3400) / 2
    assert car["dtcs"] == []
    assert (car["mil"], car["dtc_count"]) == (False, 0)
