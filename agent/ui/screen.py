"""The bay screen's engine: committed records in, bay state and page events out.

The outbox sink hands every committed record to `BayScreen.on_commit`, which queues it
(bounded, 1,000 records: a stalled screen slows the producers for a moment and never
drops a record, like the enrichment feed). `run` applies each record to the bay it
belongs to (dongle or camera -> bay from the config), to the visit book, to what is
known of the vehicle (enrichment) and to the technician's tasks (registrations that
need a person, recalls), then publishes the bay's new state to the open pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.errors import AgentError
from agent.records import (
    DtcClearRecord,
    EnrichmentRecord,
    Envelope,
    RegistrationRecord,
    ScanRecord,
    TelemetryRecord,
    VehicleReportRecord,
    utcnow,
)
from agent.ui.errors import NotFoundError
from agent.ui.hub import Event, Hub
from agent.ui.live import BayLive
from agent.ui.store import Task, UiStore, Vehicle, Visit
from agent.ui.visits import VisitBook

__all__ = ["POST_SCAN_S", "BayMap", "BayScreen", "PostScan", "StatusSource"]

log = logging.getLogger("baygate.ui")

INTAKE_SIZE = 1000
SUBJECTS = 10_000  # record id -> (bay, vin) for enrichments that name it; ~1 MB
_SKIP = frozenset({"visit", "status"})  # the screen's own records; the link's status

# name -> (status, detail): the health checks of dongles, cameras and the MQTT link.
StatusSource = Callable[[], Mapping[str, tuple[str, str]]]
# bay -> id of the fresh vehicle_report its dongle committed, or None (no car connected).
PostScan = Callable[[str], Awaitable[str | None]]
# A full report is ~20 OBD requests: ~1 s on CAN over Wi-Fi, ~6 s over BLE with a slow
# ISO 9141 car (bench/obd.py). Past this the visit is finished with what it has.
POST_SCAN_S = 20.0


@dataclass(frozen=True)
class BayMap:
    """Which bay a dongle or camera serves (`bay = ...` in the config; default: the agent's)."""

    default: str
    dongles: Mapping[str, str] = field(default_factory=dict)
    cameras: Mapping[str, str] = field(default_factory=dict)

    @property
    def bays(self) -> list[str]:
        return sorted({self.default, *self.dongles.values(), *self.cameras.values()})

    def of(self, rec: Envelope) -> str | None:
        if isinstance(rec, VehicleReportRecord | TelemetryRecord | DtcClearRecord):
            return self.dongles.get(rec.dongle, self.default)
        if isinstance(rec, ScanRecord):
            return self.cameras.get(rec.camera, self.default)
        return None


class BayScreen:
    def __init__(
        self,
        store: UiStore,
        book: VisitBook,
        bays: BayMap,
        *,
        shop: str = "",
        status: StatusSource | None = None,
        clock: Callable[[], datetime] = utcnow,
        sweep_s: float = 5.0,
        post_scan: PostScan | None = None,
        complete_registration: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.bays = bays
        self.shop = shop
        self.status = status
        self.clock = clock
        self.sweep_s = sweep_s
        self.hub = Hub()
        self.live = {b: BayLive(b) for b in bays.bays}
        self.intake: asyncio.Queue[Envelope] = asyncio.Queue(INTAKE_SIZE)
        self.subjects: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self.applied = 0
        self.post_scan = post_scan
        self.complete_registration = complete_registration  # registration id -> USER_COMPLETED
        self._applied_ids: OrderedDict[str, None] = OrderedDict()  # the last few, for finish
        self._applied_changed = asyncio.Condition()

    async def on_commit(self, rec: Envelope) -> None:
        """The outbox sink's hook: `rec` is committed. Waits only while the intake is full."""
        if getattr(rec, "kind", None) not in _SKIP:
            await self.intake.put(rec)

    async def run(self) -> None:
        await self.book.load()
        while True:
            rec: Envelope | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_s):  # never wait_for: tests/test_cancellation.py
                    rec = await self.intake.get()
            if rec is not None:
                try:
                    await self.apply(rec)
                except Exception:  # one bad record must not blank every bay's screen
                    log.exception("bay screen could not apply %s", rec.id)
                async with self._applied_changed:
                    self._applied_ids[rec.id] = None
                    while len(self._applied_ids) > 100:
                        self._applied_ids.popitem(last=False)
                    self._applied_changed.notify_all()
            for v in await self.book.sweep():
                await self.publish(v.bay, rec.id if rec else None)

    # -- intake --------------------------------------------------------------------------

    async def apply(self, rec: Envelope) -> None:
        self.applied += 1
        if isinstance(rec, EnrichmentRecord):
            await self._enrichment(rec)
            return
        if isinstance(rec, RegistrationRecord):
            await self._registration(rec)
            return
        bay = self.bays.of(rec)
        if bay is None:
            return
        live = self.live.setdefault(bay, BayLive(bay))
        if isinstance(rec, VehicleReportRecord | ScanRecord):
            vin = rec.vin if isinstance(rec, VehicleReportRecord) else (rec.vin.value if rec.vin else None)
            self._remember(rec.id, bay, vin)
        samples = live.apply(rec)
        visit = await self.book.on_record(bay, rec)
        if samples is not None:
            self.hub.publish(Event("samples", bay, {"record": rec.id, "samples": samples}))
        elif visit is not None or isinstance(rec, ScanRecord | VehicleReportRecord | DtcClearRecord):
            await self.publish(bay, rec.id)

    def _remember(self, rid: str, bay: str, vin: str | None) -> None:
        self.subjects[rid] = (bay, vin)
        while len(self.subjects) > SUBJECTS:
            self.subjects.popitem(last=False)

    async def _enrichment(self, rec: EnrichmentRecord) -> None:
        bay, vin = self.subjects.get(rec.subject, (None, None))
        vin = vin or rec.data.get("vin")
        if not isinstance(vin, str) or rec.status == "error":
            return
        v = await self.store.vehicle(vin) or Vehicle(vin=vin)
        d = rec.data
        if rec.source == "offline":
            v.offline = dict(d.get("offline") or {})
            if v.year is None and isinstance(v.offline.get("model_year"), int):
                v.year = v.offline["model_year"]
            v.decode_source = v.decode_source or "offline"
        elif rec.source == "nhtsa.vpic":
            v.make, v.model = d.get("make") or v.make, d.get("model") or v.model
            year = d.get("model_year")
            v.year = int(year) if isinstance(year, int | str) and str(year).isdigit() else v.year
            v.decode_source = "nhtsa" if rec.status == "ok" else f"nhtsa ({rec.status})"
        elif rec.source == "nhtsa.recalls":
            v.recalls = list(d.get("recalls") or [])
            v.recalls_checked_on = rec.fetched_at or rec.ts
            if bay is not None:
                await self._recall_tasks(bay, vin, v, rec.ts)
        await self.store.put_vehicle(v)
        if bay is not None:
            await self.publish(bay, rec.id)

    async def _recall_tasks(self, bay: str, vin: str, v: Vehicle, ts: datetime) -> None:
        for r in v.recalls:
            tid = f"recall:{vin}:{r.get('campaign')}"
            with contextlib.suppress(NotFoundError):
                await self.store.task(tid)
                continue  # already listed (and maybe done): keep its state
            await self.store.put_task(
                Task(id=tid, bay=bay, vin=vin, kind="recall", created_at=ts,
                     title=f"Recall {r.get('campaign')}: {r.get('component')}",
                     steps=[s for s in (r.get("summary"), r.get("remedy")) if isinstance(s, str)],
                     data={k: r.get(k) for k in ("campaign", "consequence", "park_it", "over_the_air")})
            )  # fmt: skip

    async def _registration(self, rec: RegistrationRecord) -> None:
        bay = (self.subjects.get(rec.subject or "") or (self.bays.default, None))[0]
        tid = f"registration:{rec.registration}"
        existing: Task | None = None
        with contextlib.suppress(NotFoundError):
            existing = await self.store.task(tid)
        if rec.status == "MANUAL_REQUIRED" and rec.manual and existing is None:
            manual = rec.manual
            steps = manual.get("steps") if isinstance(manual.get("steps"), list) else []
            await self.store.put_task(
                Task(id=tid, bay=bay, kind="registration", created_at=rec.ts,
                     title=f"Register {rec.manufacturer} {rec.serial}",
                     url=_web_url(manual.get("url")),
                     steps=[str(s) for s in steps or []],
                     data={k: v for k, v in manual.items() if k not in ("url", "steps")}
                     | {"serial": rec.serial, "manufacturer": rec.manufacturer})
            )  # fmt: skip
        elif (
            rec.status in ("USER_COMPLETED", "SUCCESS") and existing is not None and existing.done_at is None
        ):
            await self.store.put_task(existing.model_copy(update={"done_at": rec.ts, "done_by": "registrar"}))
        else:
            return
        await self.publish(bay, rec.id)

    # -- actions ---------------------------------------------------------------------------

    async def finish(self, visit_id: str, technician: str | None) -> Visit:
        """Take the post-scan (when a dongle can), then end the visit with it."""
        bay = next((b for b, v in self.book.open.items() if v.visit == visit_id), None)
        if bay is not None and self.post_scan is not None:
            try:
                async with asyncio.timeout(POST_SCAN_S):
                    rid = await self.post_scan(bay)
                    if rid is not None:  # wait until this screen applied it to the visit
                        async with self._applied_changed:
                            await self._applied_changed.wait_for(lambda: rid in self._applied_ids)
            except TimeoutError:
                log.warning(
                    "post-scan in bay %s took over %.0f s: finishing with the last report", bay, POST_SCAN_S
                )
            except Exception as exc:  # a dongle that drops mid-scan: finish with what we have
                log.warning("post-scan in bay %s failed: %s", bay, exc)
        v = await self.book.finish(visit_id, technician)
        await self.publish(v.bay, None)
        return v

    async def task_done(self, task_id: str, by: str | None) -> Task:
        t = await self.store.task(task_id)
        if t.done_at is None and t.kind == "registration" and self.complete_registration is not None:
            # The registrar records it (USER_COMPLETED goes to the backend); a registration
            # it no longer holds as manual is still marked done here.
            try:
                await self.complete_registration(task_id.removeprefix("registration:"))
            except AgentError as exc:
                log.warning("registration %s: %s", task_id, exc)
        if t.done_at is None:
            t = t.model_copy(update={"done_at": self.clock(), "done_by": by})
            await self.store.put_task(t)
        await self.publish(t.bay, None)
        return t

    # -- views -----------------------------------------------------------------------------

    async def publish(self, bay: str, record: str | None) -> None:
        if not self.hub.subscribers:
            return
        snap = await self.snapshot(bay)
        snap["record"] = record
        self.hub.publish(Event("snapshot", bay, snap))
        self.hub.publish(Event("overview", bay, self._summary(snap)))

    async def snapshot(self, bay: str) -> dict[str, Any]:
        live = self.live.get(bay)
        if live is None:
            raise NotFoundError(f"no bay {bay}")
        visit = self.book.open.get(bay)
        vin = (visit.vin if visit else None) or ((live.report or {}).get("vin"))
        vehicle = await self.store.vehicle(vin) if vin else None
        history: list[Visit] = []
        change: dict[str, list[str]] = {}
        if vin:
            history, change = await self.book.history(vin, exclude=visit.visit if visit else None)
        return {
            "bay": bay,
            "shop": self.shop,
            "now": self.clock().isoformat(),
            "status": self._status(bay),
            "vin": vin,
            "vehicle": None if vehicle is None else vehicle.model_dump(mode="json"),
            **live.to_json(),
            "visit": None if visit is None else visit_json(visit) | {"change": change},
            "history": [visit_json(v) for v in history],
            "tasks": [t.model_dump(mode="json") for t in await self.store.tasks_of(bay)],
        }

    async def overview(self) -> list[dict[str, Any]]:
        return [self._summary(await self.snapshot(b)) for b in sorted(self.live)]

    @staticmethod
    def _summary(snap: dict[str, Any]) -> dict[str, Any]:
        rep, veh = snap.get("report") or {}, snap.get("vehicle") or {}
        return {
            "bay": snap["bay"], "vin": snap["vin"], "record": snap.get("record"),
            "vehicle": " ".join(str(x) for x in (veh.get("year"), veh.get("make"), veh.get("model")) if x),
            "mil": rep.get("mil"), "codes": [d["code"] for d in rep.get("dtcs", [])],
            "visit": (snap.get("visit") or {}).get("state"), "status": snap["status"],
            "open_tasks": sum(1 for t in snap["tasks"] if not t.get("done_at")),
        }  # fmt: skip

    def _status(self, bay: str) -> dict[str, list[dict[str, str]]]:
        out: dict[str, list[dict[str, str]]] = {"dongles": [], "cameras": [], "uplink": []}
        checks = self.status() if self.status else {}
        for name, (status, detail) in checks.items():
            kind, _, dev = name.partition(":")
            if kind == "dongle" and self.bays.dongles.get(dev, self.bays.default) == bay:
                out["dongles"].append({"name": dev, "status": status, "detail": detail})
            elif kind == "camera" and self.bays.cameras.get(dev, self.bays.default) == bay:
                out["cameras"].append({"name": dev, "status": status, "detail": detail})
            elif name == "link":
                out["uplink"].append({"name": "backend", "status": status, "detail": detail})
        return out


def _web_url(value: object) -> str | None:
    """A deep link the page may show: http(s) only (a `javascript:` link from a
    manufacturer's answer must never become clickable on the bay screen)."""
    url = str(value or "")
    return url if url.lower().startswith(("https://", "http://")) and len(url) <= 2048 else None


def visit_json(v: Visit) -> dict[str, Any]:
    return v.model_dump(mode="json", exclude={"latest"})
