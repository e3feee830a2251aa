"""Benchmark: 1,000 distinct VINs through the fake vPIC with 100 ms added latency.

Naive: sequential DecodeVinValues calls, one VIN per request (what a first version does).
Ours: NhtsaClient.decode_many: lookups coalesced into DecodeVINValuesBatch POSTs of 50,
up to 8 batches in flight, rate-limited per host, results cached in SQLite.
Then cached lookups: the same VINs again (memory LRU), and from a fresh client on the
same SQLite file (disk). Targets: >= 30x faster than naive; >= 20,000 cached lookups/s.

    python bench/enrich.py [--quick] [--vins N] [--latency-ms MS] [--rate R]

--quick measures the naive baseline on a sample of VINs and extrapolates (it says so);
everything else runs in full. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.enrich.cache import Cache
from agent.enrich.db import StateDB
from agent.enrich.limiter import HostLimiter
from agent.enrich.nhtsa import NhtsaClient
from agent.enrich.resilience import Resilience
from agent.enrich.vin import check_digit
from simulators.services.faults import FaultPlan
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp

PREFIXES = ["1FTFW1E5", "5YJ3E1EA", "1GCUYDED", "2HKRW2H5", "1C6SRFFT", "1N4AL3AP"]
YEAR_PLANT = "KF"  # 2019, plant F


def make_vins(n: int) -> list[str]:
    out = []
    for i in range(n):
        base = f"{PREFIXES[i % len(PREFIXES)]}0{YEAR_PLANT}{i:06d}"
        out.append(base[:8] + (check_digit(base) or "0") + base[9:])
    return out


def naive(url: str, vins: list[str]) -> float:
    t0 = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for vin in vins:
            r = http.get(f"{url}api/vehicles/DecodeVinValues/{vin}", params={"format": "json"})
            r.raise_for_status()
            assert r.json()["Results"][0]["VIN"] == vin
    return time.perf_counter() - t0


def client(url: str, db: StateDB, rate: float) -> NhtsaClient:
    host = url.split("//")[1].rstrip("/")
    return NhtsaClient(
        vpic_url=url + "api/vehicles/",
        recalls_url=url,
        resilience=Resilience(db=db, limiter=HostLimiter(rate, {host: rate})),
        cache=Cache(db, 100_000),
        batch_window_s=0.02,
    )


async def ours(url: str, vins: list[str], state: Path, rate: float) -> dict[str, float]:
    db = StateDB(state / "enrich.sqlite")
    async with client(url, db, rate) as c:
        t0 = time.perf_counter()
        results = await c.decode_many([(v, None) for v in vins])
        cold = time.perf_counter() - t0
        bad = [r for r in results if isinstance(r, Exception)]
        assert not bad, bad[:3]
        requests = c.requests
        reps = max(1, 20_000 // len(vins))
        t0 = time.perf_counter()
        for _ in range(reps):
            for v in vins:
                await c.decode(v)
        warm = time.perf_counter() - t0
    async with client(url, db, rate) as c2:  # a fresh process: memory empty, SQLite warm
        t0 = time.perf_counter()
        results = await c2.decode_many([(v, None) for v in vins])
        disk = time.perf_counter() - t0
        assert c2.requests == 0 and all(not isinstance(r, Exception) and r.cached for r in results)
    db.close()
    return {
        "ours_s": cold,
        "requests": requests,
        "cached_lookups_per_s": reps * len(vins) / warm,
        "disk_cached_lookups_per_s": len(vins) / disk,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="naive baseline on a sample, extrapolated")
    ap.add_argument("--vins", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--rate", type=float, default=10.0, help="our client's requests/s to the host")
    args = ap.parse_args()
    vins = make_vins(args.vins)
    sample = vins[:30] if args.quick else vins
    with ServiceServer(NhtsaApp(), plan=FaultPlan(latency_ms=args.latency_ms)) as srv:
        lat = f"{args.latency_ms:.0f} ms added latency"
        print(f"fake vPIC on {srv.url} with {lat}; {len(vins)} distinct VINs")
        naive_measured = naive(srv.url, sample)
        naive_s = naive_measured * len(vins) / len(sample)
        how = f"measured on {len(sample)} VINs and extrapolated" if len(sample) < len(vins) else "measured"
        print(f"naive sequential single decodes: {naive_s:.1f} s ({how}), {len(vins) / naive_s:.1f} VINs/s")
        with tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(ours(srv.url, vins, Path(tmp), args.rate))
    speedup = naive_s / r["ours_s"]
    print(f"ours (batch 50, 8 in flight, {args.rate:g} req/s limit): {r['ours_s']:.2f} s in "
          f"{r['requests']:.0f} requests, {len(vins) / r['ours_s']:.0f} VINs/s")  # fmt: skip
    print(f"speedup: {speedup:.0f}x naive")
    print(f"cached lookups (memory): {r['cached_lookups_per_s']:,.0f}/s")
    print(f"cached lookups (fresh client, SQLite): {r['disk_cached_lookups_per_s']:,.0f}/s")
    print(json.dumps({
        "bench": "enrich", "vins": len(vins), "latency_ms": args.latency_ms, "quick": args.quick,
        "naive_s": round(naive_s, 2), "naive_sample": len(sample), "ours_s": round(r["ours_s"], 3),
        "ours_requests": int(r["requests"]), "rate_per_s": args.rate, "speedup": round(speedup, 1),
        "cached_lookups_per_s": round(r["cached_lookups_per_s"]),
        "disk_cached_lookups_per_s": round(r["disk_cached_lookups_per_s"]),
        "targets_met": speedup >= 30 and r["cached_lookups_per_s"] >= 20_000,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
