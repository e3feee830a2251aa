"""The ELM327 simulator's modelled link, measured with a raw client (no driver of ours).

What is the best any client can do on the BLE-like model (30 ms round trip, 15 ms ECU)?
Three figures, each over real TCP with real sleeps: requests/s for one PID without the
count digit (the adapter waits out ATST), with it, and PID values/s for 6 PIDs per
request with the right frame count. They are the ceilings a driver's benchmark is
compared with (FACTS.md: ~4.5 values/s without the count digit, ~130 values/s limit).
The last line printed is one JSON object.

    .venv/bin/python bench/elm327_link.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulators.elm327 import serve_tcp

SIX = "010C0D05040B11"  # rpm, speed, coolant, load, MAP, throttle: 14-byte answer, 3 frames


async def rate(port: int, command: str, seconds: float) -> float:
    """Commands answered per second, each sent after the previous prompt."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for setup in ("ATE0", "ATH1", "ATSP6", "ATSH7E0", "0100"):
            writer.write(setup.encode() + b"\r")
            await reader.readuntil(b">")
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            writer.write(command.encode() + b"\r")
            reply = await reader.readuntil(b">")
            if b"NO DATA" in reply or b"STOPPED" in reply:
                raise RuntimeError(f"{command}: {reply!r}")
            done += 1
        return done / (time.perf_counter() - start)
    finally:
        writer.close()
        await writer.wait_closed()


async def main(seconds: float) -> dict[str, float]:
    async with serve_tcp(profile="petrol-can", rtt_ms=30, ecu_ms=15) as server:
        without = await rate(server.port, "010C", seconds)
        with_count = await rate(server.port, "010C1", seconds)
        six = await rate(server.port, SIX + "3", seconds)
    return {
        "one_pid_no_count_req_per_s": round(without, 1),
        "one_pid_count_req_per_s": round(with_count, 1),
        "six_pids_count_values_per_s": round(6 * six, 1),
        "model_ceiling_values_per_s": round(6 / (0.030 + 0.015 + 0.002), 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per figure instead of 5")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    figures = asyncio.run(main(seconds))
    print("ELM327 simulator, BLE-like model (rtt 30 ms, ECU 15 ms, ATST 200 ms):")
    print(f"  1 PID, no count digit : {figures['one_pid_no_count_req_per_s']} req/s")
    print(f"  1 PID, count digit    : {figures['one_pid_count_req_per_s']} req/s")
    print(f"  6 PIDs, count digit   : {figures['six_pids_count_values_per_s']} values/s")
    print(f"  model ceiling         : {figures['model_ceiling_values_per_s']} values/s")
    print(json.dumps({"bench": "elm327_link", **figures}))
