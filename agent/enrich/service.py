"""The enrichment service the runtime wires in: VINs and serials in, records out.

`vin(subject, vin)` emits the offline facts at once and queues the NHTSA lookups
durably; `serial(subject, serial)` records a PENDING registration. Neither waits for
the network, so a scan record is never held back. `run()` (a long-lived task for the
runtime's TaskGroup) works the queue: results go out as `enrichment` records naming
their scan in `subject`; lookups that cannot run now (offline, breaker open) stay
queued and are retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from agent.config import EnrichSection
from agent.enrich.breaker import BreakerState
from agent.enrich.connectors.engine import Engine
from agent.enrich.connectors.spec import Connector, load_connectors
from agent.enrich.db import StateDB
from agent.enrich.errors import EnrichError, RemoteError, UnknownProductError
from agent.enrich.factory import build_nhtsa, build_resilience, state_path
from agent.enrich.nhtsa import NhtsaClient
from agent.enrich.queue import Job, WorkQueue
from agent.enrich.registrar import Registrar
from agent.enrich.registrations import Registration, RegistrationStore
from agent.enrich.resilience import Resilience
from agent.enrich.summary import decode_json
from agent.enrich.vin import decode_offline
from agent.pipelines.sink import RecordSink
from agent.records import Envelope, Gs1Fields, ScanRecord, VehicleReportRecord
from resilience import Backoff, BackoffPolicy

__all__ = ["EnrichmentService"]

log = logging.getLogger("baygate.enrich")


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class EnrichmentService:
    def __init__(
        self,
        *,
        db: StateDB,
        nhtsa: NhtsaClient,
        registrar: Registrar,
        resilience: Resilience,
        sink: RecordSink,
        clock: Callable[[], float] = time.time,
        retry_base_s: float = 5.0,
        retry_max_s: float = 600.0,
    ) -> None:
        self.db = db
        self.nhtsa = nhtsa
        self.registrar = registrar
        self.resilience = resilience
        self.sink = sink
        self.queue = WorkQueue(db, clock)
        self.clock = clock
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        # Durable-queue retries: no jitter, so a due time is reproducible in the state DB.
        self.backoff = BackoffPolicy(first_s=min(retry_base_s, retry_max_s), cap_s=retry_max_s, jitter=0.0)
        self._wake = asyncio.Event()
        # Breaker transitions become alert records (emitted by the worker: listeners are sync).
        self._alerts: list[tuple[str, BreakerState]] = []
        resilience.add_listener(lambda host, old, new: self._alerts.append((host, new)))

    @classmethod
    async def open(
        cls,
        section: EnrichSection,
        state_dir: Path,
        sink: RecordSink,
        *,
        connectors: dict[str, Connector] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> EnrichmentService:
        db = await StateDB.open(state_path(state_dir))
        res = build_resilience(section, db)
        nhtsa = build_nhtsa(section, db, res, transport=transport)
        if connectors is None:
            mdir = section.manufacturers_dir
            connectors = await asyncio.to_thread(load_connectors, mdir) if mdir.is_dir() else {}
        engine = Engine(res, transport=transport, base_url_override=section.manufacturer_base_url)
        store = RegistrationStore(db)
        await store.recover()
        registrar = Registrar(store, engine, connectors, sink, retry_max_s=section.queue_retry_max_s)
        return cls(
            db=db, nhtsa=nhtsa, registrar=registrar, resilience=res, sink=sink,
            retry_max_s=section.queue_retry_max_s,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self.nhtsa.aclose()
        await self.registrar.engine.aclose()
        await self.db.aclose()

    async def __aenter__(self) -> EnrichmentService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- intake (never waits for the network) -------------------------------------

    async def vin(self, subject: str, vin: str, year: int | None = None) -> None:
        info = decode_offline(vin)
        body = decode_json(info, None, None)
        del body["nhtsa"], body["stale"], body["nhtsa_error"]
        await self.sink.emit(
            "enrichment",
            {"subject": subject, "source": "offline", "status": "ok" if info.valid else "error",
             "data": body, "error": "; ".join(info.problems) or None, "fetched_at": _ts(self.clock())},
        )  # fmt: skip
        if info.valid:
            await self.queue.put("vin", {"vin": info.vin, "year": year or info.model_year}, subject)
            self._wake.set()

    async def serial(self, subject: str | None, serial: str, **kw: Any) -> Registration:
        reg = await self.registrar.submit(serial, subject=subject, **kw)
        self._wake.set()
        return reg

    async def on_record(self, record: Envelope) -> None:
        """The runtime's hook: call it after a scan or vehicle_report was emitted.

        VINs (camera or OBD) go to NHTSA; serials a connector rule matched (or GS1 codes
        with a known company prefix) become registrations. Never raises for bad input:
        an unrecognised serial becomes an `enrichment` record with status `error`."""
        if isinstance(record, VehicleReportRecord):
            if record.vin:
                await self.vin(record.id, record.vin)
            return
        if not isinstance(record, ScanRecord):
            return
        fields = record.typed_fields()
        if record.vin is not None:
            await self.vin(record.id, record.vin.value)
        elif isinstance(fields, Gs1Fields) and fields.serial:
            # GS1 (21) is the serial; (01) the GTIN whose company prefix names the maker
            # (the camera may have attributed it already with the same rules).
            maker = record.serial.get("manufacturer") if record.serial else None
            await self._serial_or_error(record.id, fields.serial, manufacturer=maker, gtin=fields.gtin)
        elif record.serial:
            maker = record.serial.get("manufacturer")
            await self._serial_or_error(record.id, record.serial.get("serial", ""), manufacturer=maker)

    async def _serial_or_error(self, subject: str, serial: str, **kw: Any) -> None:
        try:
            await self.serial(subject, serial, **kw)
        except UnknownProductError as exc:
            now = _ts(self.clock())
            body = {"subject": subject, "source": "manufacturer", "status": "error",
                    "data": {"serial": serial}, "error": str(exc), "fetched_at": now}  # fmt: skip
            await self.sink.emit("enrichment", body)

    # -- work ---------------------------------------------------------------------

    async def run(self, idle_s: float = 30.0) -> None:
        """Forever: work what is due, then sleep until woken or the next job is due."""
        backoff = Backoff(BackoffPolicy(first_s=1.0, cap_s=30.0, healthy_after_s=0.0))
        while True:
            self._wake.clear()  # before working: a wake during the work is not lost
            try:
                await self.work_once()
            except EnrichError as exc:
                # Its state database failed (a full disk: SQLITE_FULL). The jobs stay
                # in the durable queue; try again later instead of taking the agent down.
                delay = backoff.next_delay()
                log.error("enrichment paused %.0fs: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            dues = [await self.queue.next_due_in(), await self.registrar.store.next_due_in()]
            nxt = min((d for d in dues if d is not None), default=None)
            wait = idle_s if nxt is None else min(idle_s, max(0.05, nxt))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def work_once(self) -> int:
        """Work every due job and registration once; returns how many jobs were finished."""
        jobs = await self.queue.due(limit=200)
        # Concurrently, so their decodes coalesce into vPIC batches.
        finished = await asyncio.gather(*(self._job(j) for j in jobs))
        await self.registrar.process_due()
        await self._emit_alerts()
        return sum(finished)

    async def _emit_alerts(self) -> None:
        while self._alerts:
            host, state = self._alerts.pop(0)
            if state == BreakerState.OPEN:
                msg = f"{host} is failing: calls suspended, enrichment waits in the queue"
                body = {"severity": "warning", "code": "breaker_open", "message": msg}
            elif state == BreakerState.CLOSED:
                body = {"severity": "info", "code": "breaker_closed", "message": f"{host} answers again"}
            else:
                continue
            await self.sink.emit("alert", body)

    async def _job(self, job: Job) -> int:
        try:
            if job.kind == "vin":
                await self._vin_job(job)
            elif job.kind == "recalls":
                await self._recalls_job(job)
            elif job.kind == "emit":  # a record queued by a CLI command (see QueueSink)
                await self.sink.emit(job.payload["kind"], job.payload["body"])
        except RemoteError as exc:
            if exc.retryable or exc.retry_after is not None:
                delay = self.backoff.delay(job.attempts + 1)
                delay = max(delay, exc.retry_after or 0.0)
                await self.queue.retry(job.id, str(exc), delay)
                log.warning("enrichment %s for %s deferred %.0fs: %s", job.kind, job.subject, delay, exc)
                return 0
            source = "nhtsa.vpic" if job.kind == "vin" else "nhtsa.recalls"
            await self._emit(job, source, "error", {}, error=str(exc))
        await self.queue.done(job.id)
        return 1

    async def _emit(
        self, job: Job, source: str, status: str, data: dict[str, Any], *, error: str | None = None,
        fetched: float | None = None,
    ) -> None:  # fmt: skip
        log.info(
            "enrichment %s for %s: %s%s", source, job.subject, status, f" ({error})" if error else ""
        )
        await self.sink.emit(
            "enrichment",
            {"subject": job.subject or "", "source": source, "status": status, "data": data,
             "error": error, "fetched_at": _ts(fetched or self.clock())},
        )  # fmt: skip

    async def _vin_job(self, job: Job) -> None:
        vin, year = job.payload["vin"], job.payload.get("year")
        res = await self.nhtsa.decode(vin, year)
        v = res.vehicle
        status = "stale" if res.stale else ("ok" if not set(v.error_codes) - {0} else "partial")
        error = v.error_text if status == "partial" else None
        await self._emit(job, "nhtsa.vpic", status, v.as_dict(), error=error, fetched=res.fetched_at)
        if v.make and v.model and (v.model_year or year):
            payload = {"make": v.make, "model": v.model, "year": v.model_year or year, "series": v.series}
            await self.queue.put("recalls", payload, job.subject)

    async def _recalls_job(self, job: Job) -> None:
        p = job.payload
        rec = await self.nhtsa.recalls(p["make"], p["model"], int(p["year"]), p.get("series"))
        data = {
            "make": rec.make, "model_year": rec.model_year, "model_matched": rec.model_matched,
            "models_tried": rec.model_tried, "count": len(rec.recalls),
            "recalls": [r.__dict__ for r in rec.recalls],
        }  # fmt: skip
        status = "stale" if rec.stale else "ok"
        await self._emit(job, "nhtsa.recalls", status, data, fetched=rec.fetched_at)
