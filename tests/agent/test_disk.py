"""Disk pressure, the agent's side, without a disk and without sleeping: an injected
statvfs drives `agent.service.disk.watch_disk` through ok -> low -> critical -> ok over a real
outbox; the sink sheds telemetry, refuses scans, lets enrichment wait, and every
change is an alert record."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agent.pipelines.outbox_sink import OutboxSink
from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import RecordRefusedError, RecordShedError
from agent.records import parse_record
from agent.service.disk import disk_check, watch_disk
from drivers.camera import Code
from sync.disk import DiskGuard, DiskLevel, DiskLimits
from sync.fleet import active_alerts
from sync.outbox import Outbox
from tests.support.smallfs import fill, small_fs

MB = 1 << 20


def scan(n: int = 1) -> dict[str, object]:
    """A job-ticket scan as the camera path produces it (as tests/agent/test_runtime.py)."""
    payload = f"BAYGATE:JOB:v1;id=J{n:06d};bay=1"
    return scan_body("cam1", Code("QRCODE", payload, ((0, 0),) * 4, 0.9, "zxing"), ())


TELEMETRY = {"dongle": "d", "vin": None, "samples": []}


@pytest.mark.anyio
async def test_levels_drive_the_sink_alerts_and_health(tmp_path: Path) -> None:
    free = [100 * MB]

    def statvfs(_p: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 4096, 1, 0, free[0] // 4096, 0, 0, 0, 0, 255))

    guard = DiskGuard(tmp_path, DiskLimits(10 * MB, 4 * MB, 0), statvfs=statvfs)
    script = [6 * MB, 2 * MB, 2 * MB, 50 * MB]  # low, critical, critical, ok
    seen: list[tuple[DiskLevel, str]] = []

    async with Outbox(tmp_path / "o.sqlite3") as ob:
        sink = OutboxSink(ob, shop="s", agent="a")
        check = disk_check(guard, sink)

        async def step(_: float) -> None:
            seen.append((sink.level, check()[0]))
            if sink.level is DiskLevel.LOW:
                with pytest.raises(RecordShedError):
                    await sink.emit("telemetry", TELEMETRY)
                await sink.emit("scan", scan())  # still taken
            if sink.level is DiskLevel.CRITICAL:
                with pytest.raises(RecordRefusedError):
                    await sink.emit("scan", scan())
            if not script:
                raise asyncio.CancelledError
            free[0] = script.pop(0)

        with pytest.raises(asyncio.CancelledError):
            await watch_disk(guard, ob, sink, sleep=step)
        alerts = [parse_record(r.payload) for r in await ob.pending(limit=100) if r.stream == "alert"]
    ok, low, crit = DiskLevel.OK, DiskLevel.LOW, DiskLevel.CRITICAL
    assert [lv for lv, _ in seen] == [ok, low, crit, crit, ok]
    assert [st for _, st in seen] == ["pass", "warn", "fail", "fail", "pass"]
    assert [a.code for a in alerts] == ["disk_low", "disk_full", "disk_ok"]  # type: ignore[attr-defined]
    assert sink.shed == {"telemetry": 1} and sink.refused == {"scan": 2}  # two critical steps
    # What `baygate fleet status` makes of them: back to ok clears both levels.
    pairs = [(a.code, a.severity) for a in alerts]  # type: ignore[attr-defined]
    assert active_alerts(pairs[:2]) == ["disk_low", "disk_full"]
    assert active_alerts(pairs) == []


@pytest.mark.anyio
async def test_a_refusal_the_monitor_never_saw_still_ends_in_disk_ok(tmp_path: Path) -> None:
    """SQLite can hit a full disk between two of the monitor's once-a-second looks (a
    log rotation, a big download) that both see an ok level. The refused put raises
    `disk_full`; the monitor's next look, with the outbox taking records again, must
    say `disk_ok`, or fleet status shows the agent's disk full forever. A real full
    tmpfs; the monitor's statvfs is the one it saw before and after the burst."""

    def statvfs(_p: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 4096, 1, 0, (500 * MB) // 4096, 0, 0, 0, 0, 255))

    looks = 2
    with small_fs(tmp_path / "fs", 8) as fs:
        guard = DiskGuard(fs, DiskLimits(2 * MB, 1 * MB, 1 * MB), statvfs=statvfs)
        assert guard.ensure_reserve()
        async with Outbox(fs / "o.sqlite3", on_full=guard.release) as ob:
            sink = OutboxSink(ob, shop="s", agent="a")
            await sink.emit("scan", scan())
            burst = fill(fs, leave_bytes=0)
            with pytest.raises(RecordRefusedError):
                for n in range(10_000):
                    await sink.emit("scan", {**scan(n), "payload": "x" * 4000})
            burst.unlink()  # the burst is gone before the monitor's next look

            async def step(_: float) -> None:
                nonlocal looks
                looks -= 1
                if not looks:
                    raise asyncio.CancelledError

            with pytest.raises(asyncio.CancelledError):
                await watch_disk(guard, ob, sink, sleep=step)
            await sink.emit("scan", scan())  # taken again
            alerts = [parse_record(r.payload) for r in await ob.pending(limit=10_000) if r.stream == "alert"]
    codes = [a.code for a in alerts]  # type: ignore[attr-defined]
    assert codes == ["disk_full", "disk_ok"]  # one each: the second look says nothing new
    assert active_alerts([(a.code, a.severity) for a in alerts]) == []  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_derived_records_wait_for_room_instead_of_failing(tmp_path: Path) -> None:
    """On a real full tmpfs: scans are refused, an enrichment waits (its input is
    durable), and goes in once the backend's acks freed pages in the outbox."""
    with small_fs(tmp_path / "fs", 8) as fs:
        guard = DiskGuard(fs, DiskLimits(0, 0, 1 * MB))
        assert guard.ensure_reserve()
        async with Outbox(fs / "o.sqlite3", on_full=guard.release) as ob:
            sink = OutboxSink(ob, shop="s", agent="a")
            for _ in range(100):
                await sink.emit("scan", {**scan(), "payload": "x" * 4000})
            fill(fs, leave_bytes=0)
            with pytest.raises(RecordRefusedError):
                for _ in range(10_000):
                    await sink.emit("scan", {**scan(), "payload": "x" * 4000})
            body = {"subject": "a:e:1", "source": "offline", "status": "ok", "data": {}}
            waiting = asyncio.create_task(sink.emit("enrichment", body))
            await asyncio.sleep(0.05)
            assert not waiting.done()  # the disk is full: it waits, it does not fail
            await ob.mark_sent(await ob.held_seqs())  # the broker took them (the reserve helps)
            assert await ob.delete_through(ob.last_seq) > 0  # the backend acked: pages free
            rec = await asyncio.wait_for(waiting, 5)
            assert rec.seq == ob.last_seq and sink.refused["scan"] >= 1


@pytest.mark.anyio
async def test_free_space_is_not_exported_before_the_monitors_first_look(tmp_path: Path) -> None:
    """A scrape before the disk monitor's first look showed 0 bytes free: a full disk
    on a fleet dashboard for every agent that had just started."""
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.service.metrics import DiskCollector

    def statvfs(_p: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 4096, 1, 0, (500 * MB) // 4096, 0, 0, 0, 0, 255))

    guard = DiskGuard(tmp_path, DiskLimits(10 * MB, 4 * MB, 0), statvfs=statvfs)
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        registry = CollectorRegistry()
        registry.register(DiskCollector(guard, OutboxSink(ob, shop="s", agent="a")))

        def free_lines() -> list[str]:
            text = generate_latest(registry).decode()
            return [line for line in text.splitlines() if line.startswith("baygate_disk_free_bytes ")]

        assert free_lines() == []
        guard.measure(await ob.free_bytes())
        [line] = free_lines()
        assert float(line.split()[1]) >= 500 * MB
