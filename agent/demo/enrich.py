"""Demo step: enrichment on the fake NHTSA and fake manufacturer servers."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.config import SHIPPED_MANUFACTURERS
from agent.enrich.service import EnrichmentService
from agent.pipelines.sink import RecordSink
from agent.records import Envelope
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp

if TYPE_CHECKING:
    from agent.demo.runner import DemoContext

__all__ = ["step"]

MANUFACTURERS = SHIPPED_MANUFACTURERS
OWN_VINS = ["1GCUYDED6KZ104455", "5YJ3E1EA2KF317000"]


def _vins_seen(ctx: DemoContext) -> list[tuple[str, str]]:
    """(record id, VIN) from scans / vehicle reports earlier steps emitted, if any."""
    out = []
    for rec in getattr(ctx.sink, "records", []):
        vin: Any = getattr(rec, "vin", None)
        value = getattr(vin, "value", vin)
        if (
            isinstance(value, str)
            and len(value) == 17
            and getattr(rec, "kind", "") in ("scan", "vehicle_report")
        ):
            out.append((rec.id, value))
    return out


class _Tee:
    """Forwards to the demo's sink (memory or the durable outbox) and keeps what passed,
    so this step can narrate whichever sink a previous step installed."""

    def __init__(self, sink: RecordSink) -> None:
        self.sink = sink
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = await self.sink.emit(kind, body, ts)
        self.seen.append((kind, dict(body)))
        return rec

    def take(self, kind: str) -> list[dict[str, Any]]:
        out = [b for k, b in self.seen if k == kind]
        self.seen = [(k, b) for k, b in self.seen if k != kind]
        return out


def _enrichment_line(e: dict[str, Any]) -> str:
    """One enrichment record as a technician reads it: no empty fields, no None."""
    d = e["data"]
    if e["source"] == "nhtsa.vpic":
        what = " ".join(str(d[k]) for k in ("make", "model", "model_year", "trim", "body_class") if d[k])
        fuel = f", {d['fuel_type']}" if d["fuel_type"] else ""
        note = f": {e['error']}" if e["error"] else ""
        return f"vpic {d['vin']}: {what or 'nothing decoded'}{fuel} [{e['status']}{note}]"
    if e["source"] == "nhtsa.recalls":
        camps = ", ".join(r["campaign"] for r in d["recalls"]) or "none"
        if d["model_matched"]:
            return f"recalls {d['make']} {d['model_matched']} {d['model_year']}: {d['count']} ({camps})"
        return f"recalls {d['make']} {d['model_year']}: none listed under {' / '.join(d['models_tried'])}"
    return f"{e['source']}: {e['status']}"


async def step(ctx: DemoContext) -> None:
    nhtsa = ctx.stack.enter_context(ServiceServer(NhtsaApp()))
    maker = ctx.stack.enter_context(ServiceServer(ManufacturerApp()))
    ctx.services["nhtsa"] = nhtsa.url
    ctx.services["manufacturer"] = maker.url
    ctx.say(f"fake NHTSA on {nhtsa.url}, fake manufacturer on {maker.url}")
    # The fake's demo credentials, referenced as env: from config/manufacturers/dell.toml.
    os.environ.setdefault("BAYGATE_DELL_CLIENT_ID", "baygate-demo")
    os.environ.setdefault("BAYGATE_DELL_CLIENT_SECRET", "demo-secret")
    section = ctx.config.enrich.model_copy(
        update={
            "manufacturers_dir": MANUFACTURERS,
            "manufacturer_base_url": maker.url,
            "nhtsa": ctx.config.enrich.nhtsa.serving_both_at(nhtsa.url),
        }
    )
    tee = _Tee(ctx.sink)
    svc = await EnrichmentService.open(section, ctx.config.agent.state_dir, tee)
    ctx.stack.push_async_callback(svc.aclose)

    seen = _vins_seen(ctx)
    targets = seen[:2] + [(f"demo:{v}", v) for v in OWN_VINS if v not in {s[1] for s in seen}]
    t0 = time.perf_counter()
    for subject, vin in targets:
        await svc.vin(subject, vin)
    for _ in range(4):  # decode, then recalls (queued by the decode)
        await svc.work_once()
    ms = (time.perf_counter() - t0) * 1000
    enr = tee.take("enrichment")
    ctx.say(f"{len(targets)} VIN(s) -> {len(enr)} enrichment records in {ms:.0f} ms "
            f"({'from earlier steps: ' + str(len(seen)) if seen else 'own sample VINs'})")  # fmt: skip
    for e in enr:
        ctx.say(f"  {_enrichment_line(e)}")
    if not any(e["source"] == "nhtsa.vpic" and e["status"] == "ok" for e in enr):
        raise RuntimeError("no VIN was decoded through the fake NHTSA")

    dell = await svc.serial(None, "7XKQ-9R2", manufacturer="dell", product={"model": "Latitude 7420"})
    apple = await svc.serial(None, "C02XK1ABJGH5", product={"purchase_date": "2026-11-01"})
    await svc.work_once()
    regs = tee.take("registration")
    for rid, label in ((dell.id, "Dell API"), (apple.id, "Apple manual assist")):
        trail = [r["status"] for r in regs if r["registration"] == rid]
        ctx.say(f"{label} {rid}: {' -> '.join(trail)}")
    final = {r["registration"]: r for r in regs}
    d = await svc.registrar.store.get(dell.id)
    if final[dell.id]["status"] != "SUCCESS" or d.result is None:
        raise RuntimeError(f"Dell registration ended {final[dell.id]['status']}: {final[dell.id]['error']}")
    ctx.say(f"  Dell warranty: {d.result.get('service_level')} until {d.result.get('warranty_end')}")
    manual = final[apple.id]["manual"] or {}
    ctx.say(f"  Apple: open {manual.get('url')} ({len(manual.get('steps', []))} steps)")
    if final[apple.id]["status"] != "MANUAL_REQUIRED":
        raise RuntimeError("Apple registration should need manual assist")
