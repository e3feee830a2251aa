"""OBD2 benchmark per adapter personality: python-OBD (fast=True over socket://) and our
driver, in one run, against the same simulator.

The simulator models a BLE link: 30 ms round trip, 15 ms ECU latency, ATZ ~1 s, ATST
200 ms when a request has no count digit; each adapter personality (simulators/elm327/
adapters.py) adds what it refuses and how it prints. Figures per personality: connect
time (python-OBD; ours on first contact and on a dongle seen before), PID values per
second for 6 PIDs, and whether both read the VIN right.
Targets (issues 4, 14): >= 110 values/s and <= 0.5 s to connect to a dongle seen before,
on every personality that allows it (`headers-refused` cannot count the replies of two
ECUs and `genuine-v1.2` has no count digit, so each of their requests waits out ATST).
The last line printed is one JSON object with the figures.

    .venv/bin/python bench/obd.py [--quick] [--seconds S] [--adapter NAME ...]
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

from bench.elm327_link import rate as raw_rate  # noqa: E402
from drivers.obd2 import diagnostics as diag  # noqa: E402
from drivers.obd2.pids import BY_NAME  # noqa: E402
from drivers.obd2.session import Session  # noqa: E402
from drivers.obd2.store import MemoryStore  # noqa: E402
from drivers.obd2.transports import transport_for_url  # noqa: E402
from simulators.elm327 import ADAPTERS, list_adapters, serve_tcp  # noqa: E402

SIX = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS", "MAF"]
TARGET_VALUES_PER_S = 110.0
TARGET_WARM_CONNECT_S = 0.5
# Personalities that cannot reach the rate target, and why (docs/obd.md).
NO_RATE_TARGET = {
    "headers-refused": "no headers: two ECUs' replies cannot be counted, every request waits ATST",
    "genuine-v1.2": "no count digit before ELM327 v1.3: every request waits ATST",
}
VIN = "1FTFW1ET9DFC10312"


def pyobd_run(socket_url: str, seconds: float) -> dict[str, float]:
    import obd

    logging.getLogger("obd").setLevel(logging.CRITICAL)
    t0 = time.monotonic()
    conn = obd.OBD(socket_url, baudrate=38400, fast=True, timeout=1.0)
    connect_s = time.monotonic() - t0
    if not conn.is_connected():
        return {"connect_s": connect_s, "values_per_s": 0.0, "vin_ok": 0.0}
    vin = conn.query(obd.commands.VIN)
    vin_ok = float(not vin.is_null() and str(vin.value) == VIN)
    cmds = [obd.commands[n] for n in SIX]
    values = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for c in cmds:
            if not conn.query(c).is_null():
                values += 1
    rate = values / (time.monotonic() - t0)
    conn.close()
    return {"connect_s": connect_s, "values_per_s": rate, "vin_ok": vin_ok}


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
            out["vin_ok"] = float((await diag.read_vin(s))[0] == VIN)
            for mode in diag.DTC_MODES:
                await diag.read_dtcs(s, mode)
            await diag.read_readiness(s)
            await diag.read_freeze_frame(s)
            out["report_s"] = time.monotonic() - t0
        await s.close()
    return out


async def one(adapter: str, seconds: float) -> dict[str, object]:
    async with serve_tcp(profile="petrol-can", rtt_ms=30, ecu_ms=15, adapter=adapter) as srv:
        theirs = await asyncio.to_thread(pyobd_run, srv.socket_url, seconds)
        ours = await ours_run(srv.url, seconds)
        # The link's ceiling with this adapter: a raw client, engine ECU only (ATSH7E0),
        # 6 PIDs with the right frame count (3): the baseline measured in the same run.
        # An adapter without the count digit is measured without it.
        six = "010C0D05040B11" + ("3" if ADAPTERS[adapter].count_digit else "")
        ceiling = 6 * await raw_rate(srv.port, six, seconds)
    # "where the adapter allows": the rate target applies when the link itself can carry
    # it; a slower link (the dribbling BLE clone) is held to 90 % of its own ceiling.
    rate_target = adapter not in NO_RATE_TARGET
    wanted = TARGET_VALUES_PER_S if ceiling >= TARGET_VALUES_PER_S / 0.9 else 0.9 * ceiling
    met = ours["connect_warm_s"] <= TARGET_WARM_CONNECT_S and (
        not rate_target or ours["values_per_s"] >= wanted
    )
    print(
        f"{adapter:16} python-OBD {theirs['connect_s']:5.2f} s {theirs['values_per_s']:6.1f} v/s "
        f"VIN {'ok' if theirs['vin_ok'] else 'WRONG'} | ours {ours['connect_cold_s']:5.2f} s first, "
        f"{ours['connect_warm_s']:5.2f} s seen before, {ours['values_per_s']:6.1f} v/s, "
        f"report {ours['report_s']:4.2f} s, VIN {'ok' if ours['vin_ok'] else 'WRONG'} | "
        f"link ceiling {ceiling:6.1f} v/s"
        f"{'' if met else '  (target missed)'}",
        flush=True,
    )
    return {
        "python_obd_connect_s": round(theirs["connect_s"], 3),
        "python_obd_values_per_s": round(theirs["values_per_s"], 1),
        "python_obd_vin_ok": bool(theirs["vin_ok"]),
        "ours_connect_first_s": round(ours["connect_cold_s"], 3),
        "ours_connect_seen_before_s": round(ours["connect_warm_s"], 3),
        "ours_values_per_s": round(ours["values_per_s"], 1),
        "ours_report_s": round(ours["report_s"], 3),
        "ours_vin_ok": bool(ours["vin_ok"]),
        "raw_link_ceiling_values_per_s": round(ceiling, 1),
        "rate_target_applies": rate_target,
        "targets_met": met,
    }


async def main(seconds: float, adapters: list[str]) -> dict[str, object]:
    print(f"simulator: rtt 30 ms, ecu 15 ms, petrol-can, 6 PIDs: {', '.join(SIX)}; {seconds:g} s per rate")
    print("python-OBD's VIN is WRONG on this car: it corrupts VINs starting with 1 (its #275/#276)")
    rows = {a: await one(a, seconds) for a in adapters}
    for a, why in NO_RATE_TARGET.items():
        if a in rows:
            print(f"{a}: rate target not applicable: {why}")
    return {
        "bench": "obd",
        "model": {"rtt_ms": 30, "ecu_ms": 15},
        "pids": len(SIX),
        "per_adapter": rows,
        "targets": {"values_per_s": TARGET_VALUES_PER_S, "connect_seen_before_s": TARGET_WARM_CONNECT_S},
        "targets_met": all(r["targets_met"] for r in rows.values()),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement (under a minute)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per rate measurement")
    parser.add_argument(
        "--adapter", action="append", choices=list_adapters(), help="only these personalities (repeatable)"
    )
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    if seconds <= 0:
        parser.error("--seconds must be positive")
    print(json.dumps(asyncio.run(main(seconds, args.adapter or list_adapters()))))
