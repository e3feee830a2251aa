"""OBD2 benchmark: python-OBD (fast=True over socket://) vs our driver, one run, same simulator.

The simulator models a BLE link: 30 ms round trip, 15 ms ECU latency, ATZ ~1 s, ATST
200 ms when a request has no count digit. Figures: connect time (python-OBD; ours on
first contact and on a dongle seen before) and PID values per second for 6 PIDs.
Targets (issue 4): >= 110 values/s, <= 0.5 s to connect to a dongle seen before.
The last line printed is one JSON object with the headline figures.

    .venv/bin/python bench/obd.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

# This file is bench/obd.py: with bench/ first on sys.path, `import obd` would import
# this script instead of python-OBD. Run from the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from drivers.obd2 import diagnostics as diag  # noqa: E402
from drivers.obd2.pids import BY_NAME  # noqa: E402
from drivers.obd2.session import Session  # noqa: E402
from drivers.obd2.store import MemoryStore  # noqa: E402
from drivers.obd2.transports import transport_for_url  # noqa: E402
from simulators.elm327 import serve_tcp  # noqa: E402

SIX = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS", "MAF"]
TARGET_VALUES_PER_S = 110.0
TARGET_WARM_CONNECT_S = 0.5


def pyobd_run(socket_url: str, seconds: float) -> dict[str, float]:
    import obd

    logging.getLogger("obd").setLevel(logging.CRITICAL)
    t0 = time.monotonic()
    conn = obd.OBD(socket_url, baudrate=38400, fast=True, timeout=1.0)
    connect_s = time.monotonic() - t0
    if not conn.is_connected():
        return {"connect_s": connect_s, "values_per_s": 0.0}
    cmds = [obd.commands[n] for n in SIX]
    values = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for c in cmds:
            if not conn.query(c).is_null():
                values += 1
    rate = values / (time.monotonic() - t0)
    conn.close()
    return {"connect_s": connect_s, "values_per_s": rate}


async def ours_run(url: str, seconds: float) -> dict[str, float]:
    store = MemoryStore()
    out: dict[str, float] = {}
    for label in ("cold", "warm"):
        s = Session(transport_for_url(url), dongle="bench", store=store)
        t0 = time.monotonic()
        await s.connect()
        out[f"connect_{label}_s"] = time.monotonic() - t0
        if label == "warm":
            pids = [BY_NAME[n] for n in SIX]
            values = 0
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                values += len(await diag.read_pids(s, pids))
            out["values_per_s"] = values / (time.monotonic() - t0)
            t0 = time.monotonic()
            await diag.read_vin(s)
            for mode in diag.DTC_MODES:
                await diag.read_dtcs(s, mode)
            await diag.read_readiness(s)
            await diag.read_freeze_frame(s)
            out["report_s"] = time.monotonic() - t0
        await s.close()
    return out


async def main(seconds: float) -> dict[str, object]:
    async with serve_tcp(profile="petrol-can", rtt_ms=30, ecu_ms=15) as srv:
        print(f"simulator {srv.url}: rtt 30 ms, ecu 15 ms, petrol-can, 6 PIDs: {', '.join(SIX)}")
        theirs = await asyncio.to_thread(pyobd_run, srv.socket_url, seconds)
        print(
            f"python-OBD fast=True: connect {theirs['connect_s']:.2f} s, "
            f"{theirs['values_per_s']:.1f} values/s (one PID per request)"
        )
        ours = await ours_run(srv.url, seconds)
        print(
            f"baygate obd2: connect {ours['connect_cold_s']:.2f} s first contact, "
            f"{ours['connect_warm_s']:.2f} s seen before; {ours['values_per_s']:.1f} values/s "
            f"(6 PIDs per request + count digit); VIN+DTCs+readiness+freeze frame {ours['report_s']:.2f} s"
        )
    ok = ours["values_per_s"] >= TARGET_VALUES_PER_S and ours["connect_warm_s"] <= TARGET_WARM_CONNECT_S
    return {
        "bench": "obd",
        "model": {"rtt_ms": 30, "ecu_ms": 15},
        "pids": len(SIX),
        "python_obd_connect_s": round(theirs["connect_s"], 3),
        "python_obd_values_per_s": round(theirs["values_per_s"], 1),
        "ours_connect_first_s": round(ours["connect_cold_s"], 3),
        "ours_connect_seen_before_s": round(ours["connect_warm_s"], 3),
        "ours_values_per_s": round(ours["values_per_s"], 1),
        "ours_report_s": round(ours["report_s"], 3),
        "speedup": round(ours["values_per_s"] / max(theirs["values_per_s"], 1e-9), 1),
        "targets": {"values_per_s": TARGET_VALUES_PER_S, "connect_seen_before_s": TARGET_WARM_CONNECT_S},
        "targets_met": ok,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement (under a minute)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per rate measurement")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    print(json.dumps(asyncio.run(main(seconds))))
