"""python-OBD as a second opinion, and python-OBD over BLE through our URL handler.

python-OBD (GPL) is a dev dependency for tests and benchmarks only. Its decoders agree
with ours on the numeric PIDs below; where it is wrong (negative responses decoded as
data, VINs corrupted at the ends) we do not ask its opinion.
"""

from __future__ import annotations

import random
import threading

import obd
import pytest
from obd.protocols.protocol import Message

from drivers.obd2.pids import BY_NAME
from drivers.obd2.urlhandler import register
from simulators.elm327 import fake_ble_backend
from tests.support.obd import FAST

# Our name -> python-OBD's command name, for PIDs whose value is a plain number there.
SAME = {
    n: n
    for n in (
        "ENGINE_LOAD", "COOLANT_TEMP", "SHORT_FUEL_TRIM_1", "LONG_FUEL_TRIM_1", "SHORT_FUEL_TRIM_2",
        "LONG_FUEL_TRIM_2", "FUEL_PRESSURE", "INTAKE_PRESSURE", "RPM", "SPEED", "TIMING_ADVANCE",
        "INTAKE_TEMP", "MAF", "THROTTLE_POS", "RUN_TIME", "DISTANCE_W_MIL", "FUEL_RAIL_PRESSURE_VAC",
        "FUEL_RAIL_PRESSURE_DIRECT", "COMMANDED_EGR", "EGR_ERROR", "EVAPORATIVE_PURGE", "FUEL_LEVEL",
        "WARMUPS_SINCE_DTC_CLEAR", "DISTANCE_SINCE_DTC_CLEAR", "BAROMETRIC_PRESSURE",
        "CATALYST_TEMP_B1S1", "CATALYST_TEMP_B2S1", "CONTROL_MODULE_VOLTAGE", "ABSOLUTE_LOAD",
        "RELATIVE_THROTTLE_POS", "AMBIANT_AIR_TEMP", "THROTTLE_POS_B", "ACCELERATOR_POS_D",
        "ACCELERATOR_POS_E", "THROTTLE_ACTUATOR", "RUN_TIME_MIL", "TIME_SINCE_DTC_CLEARED",
        "ETHANOL_PERCENT", "FUEL_RAIL_PRESSURE_ABS", "RELATIVE_ACCEL_POS", "HYBRID_BATTERY_REMAINING",
        "OIL_TEMP", "FUEL_INJECT_TIMING", "FUEL_RATE",
    )
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SAME))
def test_decoding_agrees_with_python_obd(name: str) -> None:
    ours = BY_NAME[name]
    theirs = obd.commands[SAME[name]]
    rng = random.Random(name)
    for _ in range(40):
        data = bytes(rng.randrange(256) for _ in range(ours.size))
        msg = Message([])
        msg.data = bytearray(bytes([0x41, ours.code]) + data)
        expected = theirs.decode([msg])
        value = ours.value(data)
        assert isinstance(value, int | float)
        assert value == pytest.approx(expected.magnitude, abs=0.01), data.hex()


def test_python_obd_over_ble_through_our_url_handler() -> None:
    register(backend=fake_ble_backend("petrol-can", layout="ffe0", timing=FAST, random_split=True))
    before = set(threading.enumerate())
    conn = obd.OBD("ble://AA:BB:CC:00:00:01", fast=False, timeout=2)
    try:
        assert conn.status() == obd.OBDStatus.CAR_CONNECTED
        rpm = conn.query(obd.commands.RPM)
        speed = conn.query(obd.commands.SPEED)
        assert not rpm.is_null() and 0 < rpm.value.magnitude < 8000
        assert not speed.is_null() and speed.value.magnitude >= 0
    finally:
        conn.close()
    # The port's private event loop thread ends with the port.
    assert {t for t in threading.enumerate() if t.name == "ble-serial"} - before == set()
