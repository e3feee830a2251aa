"""The bay screen assembled from the config: what the runtime starts.

`open_bay_screen` opens the UI store in the state dir, the visit book (emitting `visit`
records through the agent's sink) and the screen; `BayScreenApp.routes` are mounted
under /ui by the local web.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.routing import BaseRoute

from agent.config import Config
from agent.pipelines.sink import RecordSink
from agent.records import DtcClearRecord
from agent.service.health import HealthRegistry
from agent.ui.screen import BayMap, BayScreen, PostScan, StatusSource
from agent.ui.store import UiStore
from agent.ui.tokens import Tokens, load_tokens
from agent.ui.visits import VisitBook
from agent.ui.web import ClearCodes, ui_routes
from drivers.obd2.session import LinkState

__all__ = [
    "BayScreenApp",
    "Rescannable",
    "bay_map",
    "clear_codes_from",
    "health_status",
    "open_bay_screen",
    "post_scan_from",
    "registration_completer",
]

DB_FILE = "ui.sqlite3"


def bay_map(config: Config) -> BayMap:
    default = config.agent.agent_id
    return BayMap(
        default=default,
        dongles={d.name: d.bay or default for d in config.obd.dongles},
        cameras={c.name: c.bay or default for c in config.cameras},
    )


def health_status(health: HealthRegistry) -> StatusSource:
    """Dongle, camera and link states for the page, from the same checks /health runs."""

    def status() -> Mapping[str, tuple[str, str]]:
        doc = health.evaluate()
        return {name: (r[0]["status"], r[0]["output"]) for name, r in doc["checks"].items() if r}

    return status


class Rescannable(Protocol):
    """A vehicle session (agent/pipelines/vehicle.py): a fresh full report on demand."""

    async def rescan(self) -> str | None: ...


def post_scan_from(vehicles: Mapping[str, Any], bays: BayMap) -> PostScan:
    """Ask the bay's dongle(s) for a fresh report; the first that has a car answers."""

    async def post_scan(bay: str) -> str | None:
        for name, session in list(vehicles.items()):
            if bays.dongles.get(name, bays.default) == bay:
                rid: str | None = await session.rescan()
                if rid is not None:
                    return rid
        return None

    return post_scan


def clear_codes_from(vehicles: Mapping[str, Any], bays: BayMap) -> ClearCodes:
    """Clear codes through the bay's own vehicle session (it owns the dongle: no second
    connection). With several dongles in a bay, the one connected to a car; with none
    connected, the first, which records the failure. None: no dongle serves the bay."""

    async def clear_codes(bay: str) -> DtcClearRecord | None:
        mine = [s for name, s in list(vehicles.items()) if bays.dongles.get(name, bays.default) == bay]
        if not mine:
            return None
        ready = [s for s in mine if s.session.state is LinkState.READY]
        rec = await (ready or mine)[0].clear_codes()
        assert isinstance(rec, DtcClearRecord)
        return rec

    return clear_codes


def registration_completer(state_dir: Path) -> Callable[[str], Awaitable[None]]:
    """What `baygate registration complete` does: USER_COMPLETED through the enrichment
    state's durable queue, emitted by the running agent's enrichment service."""
    from agent.enrich.db import StateDB
    from agent.enrich.factory import state_path
    from agent.enrich.queue import QueueSink, WorkQueue
    from agent.enrich.registrar import complete_registration
    from agent.enrich.registrations import RegistrationStore

    async def complete(registration: str) -> None:
        db = await StateDB.open(state_path(state_dir))
        try:
            await complete_registration(RegistrationStore(db), QueueSink(WorkQueue(db)), registration)
        finally:
            await db.aclose()

    return complete


@dataclass
class BayScreenApp:
    screen: BayScreen
    tokens: Tokens
    routes: list[BaseRoute]

    async def aclose(self) -> None:
        self.screen.hub.close()
        with contextlib.suppress(Exception):
            await self.screen.store.aclose()


async def open_bay_screen(
    config: Config,
    sink: RecordSink,
    *,
    health: HealthRegistry | None = None,
    clear_codes: ClearCodes | None = None,
    vehicles: Mapping[str, Any] | None = None,
) -> BayScreenApp:
    """`vehicles` (dongle name -> VehicleSession, filled by the pipelines) gives the
    finish button its post-scan and, with dongles configured, the clear-codes button."""
    state = config.agent.state_dir
    store = await UiStore.open(state / DB_FILE)
    book = VisitBook(store, sink, idle_end_s=config.ui.visit_idle_end_s)
    bays = bay_map(config)
    screen = BayScreen(
        store, book, bays, shop=config.agent.shop_id,
        status=health_status(health) if health is not None else None,
        post_scan=post_scan_from(vehicles, bays) if vehicles is not None else None,
        complete_registration=registration_completer(state) if config.enrich.enabled else None,
    )  # fmt: skip
    tokens = load_tokens(state)
    if clear_codes is None and vehicles is not None and config.obd.dongles:
        clear_codes = clear_codes_from(vehicles, bays)
    return BayScreenApp(screen, tokens, ui_routes(screen, tokens, clear_codes=clear_codes))
