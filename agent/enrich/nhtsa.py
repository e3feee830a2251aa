"""The NHTSA client: vPIC decoding (single and batched) and recalls, cached and resilient.

Lookup path: cache (fresh?) -> single-flight per key -> batcher -> breaker -> retry ->
limiter -> HTTP. Concurrent decodes arriving within `batch_window_s` are coalesced into
one DecodeVINValuesBatch POST of at most 50 VINs (vPIC's limit); a lone VIN uses
DecodeVinValues with its model year. When the call fails or the breaker is open, an
expired cache entry is served and marked stale; without one the error propagates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from agent.enrich.cache import Cache, CacheEntry
from agent.enrich.errors import DataError, RemoteError, TransportError
from agent.enrich.resilience import Resilience, send
from agent.enrich.singleflight import SingleFlight
from agent.enrich.vpic import (
    Recall,
    VehicleDecode,
    parse_decode_rows,
    parse_recalls,
    recall_model_variants,
    vehicle_from_row,
)

__all__ = ["DecodeResult", "NhtsaClient", "RecallsResult", "Ttls"]

BATCH_LIMIT = 50  # vPIC: at most 50 VINs per DecodeVINValuesBatch request


@dataclass(frozen=True)
class Ttls:
    clean_decode_s: float = 30 * 86400.0  # a clean decode does not change
    error_decode_s: float = 3600.0  # decodes with error codes may be fixed upstream
    recalls_s: float = 86400.0  # new campaigns appear daily


@dataclass(frozen=True)
class DecodeResult:
    vehicle: VehicleDecode
    stale: bool
    cached: bool
    fetched_at: float


@dataclass(frozen=True)
class RecallsResult:
    recalls: list[Recall]
    make: str
    model_tried: list[str]
    model_matched: str | None
    model_year: int
    stale: bool
    fetched_at: float


@dataclass
class _Pending:
    vin: str
    year: int | None
    future: asyncio.Future[dict[str, Any]]


@dataclass
class _Batcher:
    flush: Callable[[list[_Pending]], Any]
    window_s: float
    pending: list[_Pending] = field(default_factory=list)
    timer: asyncio.Handle | None = None

    def submit(self, vin: str, year: int | None) -> asyncio.Future[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending.append(_Pending(vin, year, fut))
        if len(self.pending) >= BATCH_LIMIT:
            self._fire()
        elif self.timer is None:
            self.timer = loop.call_later(self.window_s, self._fire)
        return fut

    def close(self) -> None:
        """Cancel the window timer; lookups still waiting for a batch fail (typed)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for p in self.pending:
            if not p.future.done():
                p.future.set_exception(TransportError("NHTSA client closed"))
        self.pending = []

    def _fire(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending[:BATCH_LIMIT], self.pending[BATCH_LIMIT:]
        if batch:
            self.flush(batch)
        if self.pending:
            self.timer = asyncio.get_running_loop().call_soon(self._fire)


class NhtsaClient:
    def __init__(
        self,
        *,
        vpic_url: str,
        recalls_url: str,
        resilience: Resilience,
        cache: Cache,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        batch_window_s: float = 0.02,
        max_concurrency: int = 8,
        ttls: Ttls | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.vpic_url = vpic_url.rstrip("/") + "/"
        self.recalls_url = recalls_url.rstrip("/") + "/"
        self.res = resilience
        self.cache = cache
        self.ttls = ttls or Ttls()
        self.clock = clock
        self.http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_concurrency * 2),
            headers={"User-Agent": "baygate-agent"},
        )
        self._sem = asyncio.Semaphore(max_concurrency)
        self._decodes: SingleFlight[DecodeResult] = SingleFlight()
        self._recall_flight: SingleFlight[tuple[list[Recall], bool, float]] = SingleFlight()
        self._batcher = _Batcher(self._start_flush, batch_window_s)
        self._tasks: set[asyncio.Task[None]] = set()
        self._decoded: dict[str, tuple[CacheEntry, VehicleDecode]] = {}
        self.requests = 0  # HTTP exchanges attempted (figures for bench and tests)

    async def aclose(self) -> None:
        self._batcher.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.aclose()

    async def __aenter__(self) -> NhtsaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- decoding ------------------------------------------------------------------

    @staticmethod
    def _key(vin: str, year: int | None) -> str:
        return f"vpic:{vin}:{year or ''}"

    async def decode(self, vin: str, year: int | None = None) -> DecodeResult:
        vin = vin.strip().upper()
        key = self._key(vin, year)
        return await self._decode(vin, year, key, self.cache.peek(key) or await self.cache.get(key))

    async def _decode(self, vin: str, year: int | None, key: str, entry: CacheEntry | None) -> DecodeResult:
        if entry is not None and entry.fresh(self.clock()):
            return DecodeResult(self._vehicle(key, entry), False, True, entry.stored_at)
        try:
            return await self._decodes.do(key, lambda: self._fetch_decode(vin, year, key))
        except RemoteError:
            if entry is None:
                raise
            return DecodeResult(self._vehicle(key, entry), True, True, entry.stored_at)

    def _vehicle(self, key: str, entry: CacheEntry) -> VehicleDecode:
        """The decoded object for a cache entry, built once per entry (the hot path of
        repeated lookups: rebuilding it costs more than the cache lookup itself)."""
        hit = self._decoded.get(key)
        if hit is not None and hit[0] is entry:
            return hit[1]
        if len(self._decoded) >= self.cache.memory_entries:
            self._decoded.clear()
        vehicle = VehicleDecode.from_dict(entry.value)
        self._decoded[key] = (entry, vehicle)
        return vehicle

    async def decode_many(self, items: Sequence[tuple[str, int | None]]) -> list[DecodeResult | RemoteError]:
        """Decode many VINs concurrently (they coalesce into batches); errors are returned."""

        # One SQLite read for the whole list: no thread hop per VIN.
        keyed = [(v.strip().upper(), y) for v, y in items]
        entries = await self.cache.get_many([self._key(v, y) for v, y in keyed])

        async def one(vin: str, year: int | None) -> DecodeResult | RemoteError:
            key = self._key(vin, year)
            try:
                return await self._decode(vin, year, key, entries.get(key))
            except RemoteError as exc:
                return exc

        return list(await asyncio.gather(*(one(v, y) for v, y in keyed)))

    async def _fetch_decode(self, vin: str, year: int | None, key: str) -> DecodeResult:
        row = await self._batcher.submit(vin, year)
        vehicle = vehicle_from_row(row)
        ttl = self.ttls.clean_decode_s if vehicle.clean else self.ttls.error_decode_s
        entry = await self.cache.put(key, vehicle.as_dict(), ok=vehicle.clean, ttl_s=ttl)
        return DecodeResult(vehicle, False, False, entry.stored_at)

    def _start_flush(self, batch: list[_Pending]) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            async with self._sem:
                rows = await self._decode_rows([(p.vin, p.year) for p in batch])
        except BaseException as exc:
            err = exc if isinstance(exc, Exception) else RemoteError("decode cancelled")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            return
        for p, row in zip(batch, rows, strict=True):
            if not p.future.done():
                p.future.set_result(row)

    async def _decode_rows(self, items: list[tuple[str, int | None]]) -> list[dict[str, Any]]:
        if len(items) == 1:
            vin, year = items[0]
            params = {"format": "json", **({"modelyear": str(year)} if year else {})}
            url = f"{self.vpic_url}DecodeVinValues/{quote(vin, safe='*')}"
            req = self.http.build_request("GET", url, params=params)
        else:
            data = ";".join(f"{v},{y}" if y else v for v, y in items)
            url = f"{self.vpic_url}DecodeVINValuesBatch/"
            req = self.http.build_request("POST", url, data={"format": "json", "data": data})

        async def attempt() -> list[dict[str, Any]]:
            self.requests += 1
            resp = await send(self.http, req, self.clock)
            rows = parse_decode_rows(resp.content)
            return _match_rows(items, rows)

        return await self.res.call(url, attempt)

    # -- recalls -------------------------------------------------------------------

    async def recalls(self, make: str, model: str, year: int, series: str | None = None) -> RecallsResult:
        """Recalls for make/model/year, trying model-name variants until one matches."""
        variants = recall_model_variants(model, series)
        tried: list[str] = []
        stale = False
        fetched = self.clock()
        for variant in variants:
            tried.append(variant)
            recalls, was_stale, at = await self._recalls_one(make.upper(), variant, year)
            stale = stale or was_stale
            fetched = min(fetched, at)
            if recalls:
                return RecallsResult(recalls, make, tried, variant, year, stale, fetched)
        return RecallsResult([], make, tried, None, year, stale, fetched)

    async def _recalls_one(self, make: str, model: str, year: int) -> tuple[list[Recall], bool, float]:
        key = f"recalls:{make}:{model}:{year}"
        entry = self.cache.peek(key) or await self.cache.get(key)
        if entry is not None and entry.fresh(self.clock()):
            return [Recall(**r) for r in entry.value], False, entry.stored_at
        try:
            return await self._recall_flight.do(key, lambda: self._fetch_recalls(make, model, year, key))
        except RemoteError:
            if entry is None:
                raise
            return [Recall(**r) for r in entry.value], True, entry.stored_at

    async def _fetch_recalls(
        self, make: str, model: str, year: int, key: str
    ) -> tuple[list[Recall], bool, float]:
        url = f"{self.recalls_url}recalls/recallsByVehicle"
        req = self.http.build_request(
            "GET", url, params={"make": make, "model": model, "modelYear": str(year)}
        )

        async def attempt() -> list[Recall]:
            self.requests += 1
            resp = await send(self.http, req, self.clock)
            return parse_recalls(resp.content)

        async with self._sem:
            recalls = await self.res.call(url, attempt)
        value = [r.__dict__ for r in recalls]
        entry = await self.cache.put(key, value, ok=True, ttl_s=self.ttls.recalls_s)
        return recalls, False, entry.stored_at


def _match_rows(items: list[tuple[str, int | None]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in the order of `items`. vPIC answers in request order; if it did not, match
    by the VIN each row echoes (unambiguous unless one VIN was asked twice)."""
    if len(rows) != len(items):
        raise DataError(f"vPIC answered {len(rows)} rows for {len(items)} VINs")
    echoed = [str(r.get("VIN", "")).strip().upper() for r in rows]
    wanted = [vin for vin, _ in items]
    if echoed == wanted:
        return rows
    by_vin = dict(zip(echoed, rows, strict=True))
    if len(by_vin) != len(rows) or set(by_vin) != set(wanted):
        raise DataError(f"vPIC rows {echoed[:3]}... do not match the VINs asked for")
    return [by_vin[vin] for vin in wanted]
