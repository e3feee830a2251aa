"""Runs registrations through their connector's methods in fallback order.

success / partial -> SUCCESS / PARTIAL_SUCCESS; manual -> MANUAL_REQUIRED (a first-class
outcome); not_found / failed (auth, 4xx, form rejected) -> next method; transient
(network, 5xx, breaker open) -> back to PENDING and retried later, until
`transient_limit` attempts, then the next method. Every attempt is in the audit trail
and every status change goes out as a `registration` record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agent.enrich.connectors.engine import Engine, Outcome, Product
from agent.enrich.connectors.serials import normalise_serial, recognise, serial_problem
from agent.enrich.connectors.spec import ApiMethod, Connector, FormMethod, Method
from agent.enrich.errors import EnrichError, UnknownProductError
from agent.enrich.registrations import Registration, RegistrationStore
from agent.pipelines.sink import Emitter
from resilience import BackoffPolicy

__all__ = ["Registrar", "complete_registration"]

log = logging.getLogger("baygate.enrich.registrar")

_FINAL = {"success": "SUCCESS", "partial": "PARTIAL_SUCCESS", "manual": "MANUAL_REQUIRED"}


async def complete_registration(store: RegistrationStore, sink: Emitter, rid: str) -> Registration:
    """MANUAL_REQUIRED / FAILED / PARTIAL_SUCCESS -> USER_COMPLETED, emitted."""
    reg = await store.get(rid)
    if reg.status not in ("MANUAL_REQUIRED", "FAILED", "PARTIAL_SUCCESS"):
        raise EnrichError(f"registration {rid} is {reg.status}; only manual/failed ones can be completed")
    done = await store.update(rid, status="USER_COMPLETED", error=None)
    await sink.emit("registration", done.record_body())
    return done


class Registrar:
    def __init__(
        self,
        store: RegistrationStore,
        engine: Engine,
        connectors: dict[str, Connector],
        sink: Emitter,
        *,
        clock: Callable[[], float] = time.time,
        retry_base_s: float = 30.0,
        retry_max_s: float = 600.0,
        transient_limit: int = 5,
    ) -> None:
        self.store = store
        self.engine = engine
        self.connectors = connectors
        self.sink = sink
        self.clock = clock
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        # Durable-queue retries: no jitter, so a due time is reproducible in the state DB.
        self.backoff = BackoffPolicy(first_s=min(retry_base_s, retry_max_s), cap_s=retry_max_s, jitter=0.0)
        self.transient_limit = transient_limit

    async def _emit(self, reg: Registration) -> Registration:
        log.info(
            "registration %s: %s %s via %s: %s%s", reg.id, reg.manufacturer, reg.serial, reg.method,
            reg.status, f" ({reg.error})" if reg.error else "",
        )  # fmt: skip
        await self.sink.emit("registration", reg.record_body())
        return reg

    async def submit(
        self,
        serial: str,
        *,
        manufacturer: str | None = None,
        product: dict[str, str] | None = None,
        priority: str | None = None,
        subject: str | None = None,
        gtin: str | None = None,
    ) -> Registration:
        """Record a new PENDING registration (durable at once) and emit it."""
        if manufacturer:
            conn = self.connectors.get(manufacturer)
            if conn is None:
                raise UnknownProductError(f"no connector {manufacturer!r}")
        else:
            found = recognise(serial, self.connectors.values(), gtin)
            if found is None:
                raise UnknownProductError(f"no connector recognises serial {serial!r}")
            conn = found
        clean = normalise_serial(serial, conn)
        problem = serial_problem(clean, conn)
        if problem:
            raise UnknownProductError(problem)
        data = {**(product or {}), "serial": clean, **({"gtin": gtin} if gtin else {})}
        reg = await self.store.create(conn.id, clean, data, priority or conn.priority, subject)
        return await self._emit(reg)

    async def complete(self, rid: str) -> Registration:
        """The technician finished a manual registration."""
        return await complete_registration(self.store, self.sink, rid)

    async def process_due(self) -> list[Registration]:
        """Work every due PENDING registration; returns them in their new state."""
        due = await self.store.due()
        groups: dict[str, list[Registration]] = {}
        for reg in due:
            groups.setdefault(reg.manufacturer, []).append(reg)
        out: list[Registration] = []
        for mid, regs in groups.items():
            conn = self.connectors.get(mid)
            if conn is None:
                for r in regs:
                    upd = await self.store.update(r.id, status="FAILED", error=f"connector {mid!r} is gone")
                    out.append(await self._emit(upd))
                continue
            out.extend(await self._process(conn, regs))
        return out

    async def _process(self, conn: Connector, regs: list[Registration]) -> list[Registration]:
        remaining: dict[str, Registration] = {}
        for r in regs:
            remaining[r.id] = await self._emit(await self.store.update(r.id, status="PROCESSING"))
        errors: dict[str, str | None] = {}
        done: list[Registration] = []
        for method in conn.methods:
            if not remaining:
                break
            outcomes = await self._run(method, list(remaining.values()))
            for rid, (outcome, started, duration) in outcomes.items():
                reg = remaining[rid]
                n = await self.store.add_attempt(
                    rid,
                    method.type,
                    started=started,
                    duration=duration,
                    outcome=outcome.kind,
                    error=outcome.error,
                )
                final = _FINAL.get(outcome.kind)
                if final:
                    upd = await self.store.update(
                        rid, status=final, method=method.type, result=outcome.data or None,
                        manual=outcome.manual, error=outcome.error,
                    )  # fmt: skip
                    done.append(await self._emit(upd))
                    del remaining[rid]
                elif outcome.kind == "transient" and n < self.transient_limit:
                    delay = self.backoff.delay(n)
                    upd = await self.store.update(
                        rid,
                        status="PENDING",
                        method=method.type,
                        error=outcome.error,
                        next_at=self.clock() + delay,
                    )
                    done.append(await self._emit(upd))
                    del remaining[rid]
                else:
                    errors[rid] = outcome.error or outcome.kind
                    remaining[rid] = reg
        for rid in remaining:
            upd = await self.store.update(
                rid, status="FAILED", error=errors.get(rid) or "no method succeeded"
            )
            done.append(await self._emit(upd))
        return done

    async def _run(self, method: Method, regs: list[Registration]) -> dict[str, tuple[Outcome, float, float]]:
        products = {r.id: _product(r.product) for r in regs}
        started = self.clock()
        t0 = time.perf_counter()
        if isinstance(method, ApiMethod):
            by_serial = await self.engine.api(method, list(products.values()))
            dur = time.perf_counter() - t0
            return {rid: (by_serial[p.serial], started, dur) for rid, p in products.items()}
        out: dict[str, tuple[Outcome, float, float]] = {}
        for rid, p in products.items():
            t1 = time.perf_counter()
            if isinstance(method, FormMethod):
                outcome = await self.engine.form(method, p)
            else:
                outcome = self.engine.manual(method, p)
            out[rid] = (outcome, self.clock(), time.perf_counter() - t1)
        return out


def _product(data: dict[str, Any]) -> Product:
    fields = Product.__dataclass_fields__
    return Product(**{k: str(v) for k, v in data.items() if k in fields})
