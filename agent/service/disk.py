"""Disk pressure, the agent's side: watch the state dir's filesystem, tell the sink
what to shed or refuse, say so in alerts and in /health, keep the reserve allocated.

Once a second (an SD card fills at most a few MB/s): measure the free space with the
outbox's free pages (`sync.disk.DiskGuard`), hand the level to the sink, commit an
alert when it changes (`disk_low` warning, `disk_full` critical, `disk_ok` info), and
when the level is back to ok allocate the reserve again and let the outbox take new
records. The agent never exits for a full disk: a restart frees nothing, the backend's
acks do, and they need the link up. So /health says "fail" at critical (fleet
monitors act) but the check is registered as one a restart does not help: the
watchdog keeps pinging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agent.pipelines.outbox_sink import OutboxSink
from agent.service.health import Status
from sync.disk import DiskGuard, DiskLevel
from sync.errors import SyncError
from sync.outbox import Outbox

__all__ = ["disk_check", "watch_disk"]

log = logging.getLogger("baygate.disk")

_ALERTS = {
    DiskLevel.LOW: ("warning", "disk_low"),
    DiskLevel.CRITICAL: ("critical", "disk_full"),
    DiskLevel.OK: ("info", "disk_ok"),
}


async def watch_disk(
    guard: DiskGuard,
    outbox: Outbox,
    sink: OutboxSink,
    *,
    interval_s: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run until cancelled."""
    last = DiskLevel.OK
    while True:
        try:
            free = await outbox.free_bytes()
        except SyncError as exc:  # the outbox cannot even be read: say so, try again
            log.warning("disk monitor: outbox free pages unknown: %s", exc)
            free = 0
        state = await asyncio.to_thread(guard.measure, free)
        level = state.level
        if level is DiskLevel.OK:
            outbox.space_returned()
            if not state.reserve_held:
                await asyncio.to_thread(guard.ensure_reserve)
        closed = sink.set_level(level)
        if level != last:
            detail = state.describe(guard.limits)
            (log.info if level is DiskLevel.OK else log.error)("disk: %s", detail)
            severity, code = _ALERTS[level]
            if level is DiskLevel.CRITICAL:
                await sink.alert_full()  # once per episode, shared with a refused put
            else:
                await sink.alert(severity, code, detail)
            last = level
        elif closed:  # refused puts while the level stayed ok: the episode ends here
            detail = state.describe(guard.limits)
            log.info("disk: new records are taken again: %s", detail)
            await sink.alert("info", "disk_ok", f"new records are taken again: {detail}")
        await sleep(interval_s)


def disk_check(guard: DiskGuard, sink: OutboxSink) -> Callable[[], tuple[Status, str]]:
    def check() -> tuple[Status, str]:
        state = guard.state
        detail = state.describe(guard.limits)
        counts = [f"shed {k} {v}" for k, v in sink.shed.items()]
        counts += [f"refused {k} {v}" for k, v in sink.refused.items()]
        if counts:
            detail += " (" + ", ".join(sorted(counts)) + ")"
        if state.level is DiskLevel.CRITICAL or sink.outbox.full:
            return "fail", detail if state.level is DiskLevel.CRITICAL else "outbox full: " + detail
        return ("warn" if state.level is DiskLevel.LOW else "pass"), detail

    return check
