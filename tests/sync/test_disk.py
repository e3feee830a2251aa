"""A full disk, for real: the outbox on a small tmpfs, filled until ENOSPC.

What must still work on a full disk: the alert that says so, the link's session
counter and birth, the deletes the backend's acks cause, and opening the outbox again
after a restart. Ordinary puts are refused (OutboxFullError) and nothing committed is
lost. The levels (`sync.disk`) are checked with an injected statvfs, without a disk.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.disk import DiskGuard, DiskLevel, DiskLimits
from sync.errors import OutboxFullError
from sync.link import Link
from sync.outbox import Outbox
from tests.support.broker import Broker
from tests.support.smallfs import fill, free_bytes, small_fs
from tests.support.sync import BASE, link_settings, render, running, status_render

T = BASE + "/"
MB = 1 << 20


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[Path]:
    with small_fs(tmp_path / "fs", 8) as d:
        yield d


def fake_statvfs(free: list[int]) -> object:
    def statvfs(_p: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 4096, 1000, 0, free[0] // 4096, 0, 0, 0, 0, 255))

    return statvfs


def test_levels_count_outbox_free_pages_and_the_missing_reserve(tmp_path: Path) -> None:
    free = [100 * MB]
    limits = DiskLimits(low_bytes=10 * MB, critical_bytes=4 * MB, reserve_bytes=1 * MB)
    g = DiskGuard(tmp_path, limits, statvfs=fake_statvfs(free))  # type: ignore[arg-type]
    assert g.measure().level is DiskLevel.OK
    free[0] = 6 * MB  # 6 - 1 (reserve not held) = 5: low
    assert g.measure().level is DiskLevel.LOW
    free[0] = 4 * MB
    assert g.measure().level is DiskLevel.CRITICAL
    assert "new scans refused" in g.measure().describe(limits)
    assert g.measure(outbox_free=8 * MB).level is DiskLevel.OK  # acked rows freed pages


def test_a_disk_hovering_at_a_threshold_does_not_flap(tmp_path: Path) -> None:
    free = [0]
    limits = DiskLimits(low_bytes=10 * MB, critical_bytes=4 * MB, reserve_bytes=0)
    g = DiskGuard(tmp_path, limits, statvfs=fake_statvfs(free))  # type: ignore[arg-type]
    levels = []
    for mb in (12, 9.9, 10.1, 10.5, 9.9, 11.5, 3.9, 4.1, 4.3, 4.5):
        free[0] = int(mb * MB)
        levels.append(g.measure().level.name)
    assert levels == ["OK", "LOW", "LOW", "LOW", "LOW", "OK", "CRITICAL", "CRITICAL", "CRITICAL", "LOW"]


@pytest.mark.anyio
async def test_a_full_disk_refuses_new_records_but_alerts_acks_and_restarts_still_work(fs: Path) -> None:
    guard = DiskGuard(fs, DiskLimits(low_bytes=2 * MB, critical_bytes=1 * MB, reserve_bytes=1 * MB))
    assert guard.ensure_reserve() and guard.held() == 1 * MB
    path = fs / "outbox.sqlite3"
    committed: list[int] = []
    async with Outbox(path, on_full=guard.release) as ob:
        for _ in range(200):  # ~460 KiB waiting for the backend
            committed.append(await ob.put("scan", T + "scan", render("scan", {"pad": "x" * 2000})))
        fill(fs, leave_bytes=0)  # somebody else filled the disk to the last byte
        with pytest.raises(OutboxFullError):
            for _ in range(10_000):
                committed.append(await ob.put("scan", T + "scan", render("scan", {"pad": "x" * 2000})))
        assert ob.full and guard.released == 0  # ordinary records never touch the reserve
        with pytest.raises(OutboxFullError):  # refused until space comes back
            await ob.put("scan", T + "scan", render("scan"))
        # What must still work: alerts (a few, larger than an alert), the link's
        # session counter and birth, the deletes acks cause. Each gets the reserve if
        # the WAL's own slack (frames of the refused transactions) is not enough.
        for _ in range(20):
            alert = await ob.put("alert", T + "alert", render("alert", {"pad": "y" * 8000}), reserve=True)
        assert await ob.next_counter("session") >= 1  # the link can still connect
        await ob.hold("status", T + "status", render("status"), retain=True)
        assert await ob.mark_sent(committed) > 0  # PUBACKs still mark
        assert await ob.delete_through(committed[len(committed) // 2]) > 0  # acks still delete
        held = await ob.held_seqs()
        assert set(committed[len(committed) // 2 + 1 :]) <= held and alert in held
    (fs / "filler.bin").unlink()  # space came back for a while: the reserve too
    assert guard.ensure_reserve()
    fill(fs, leave_bytes=0)  # and full again before the restart
    assert free_bytes(fs) < 64 * 1024
    guard2 = DiskGuard(fs, guard.limits)
    async with Outbox(path, on_full=guard2.release) as ob:  # the restart opens
        assert set(committed[len(committed) // 2 + 1 :]) <= await ob.held_seqs()
        await ob.mark_sent(await ob.held_seqs())
        await ob.delete_through(ob.last_seq)
        assert await ob.free_bytes() > 512 * 1024  # deleted rows: room inside the file
        ob.space_returned()
        await ob.put("scan", T + "scan", render("scan"))  # room again for new records


@pytest.mark.anyio
async def test_the_link_connects_even_when_nothing_can_be_written(fs: Path, broker: Broker) -> None:
    """The issue's deadlock: the link wrote its session counter and birth before
    connecting, so on a disk with no room at all it never connected and never heard
    the acks that would free space. No reserve here, and the WAL's slack used up."""
    async with Outbox(fs / "outbox.sqlite3") as ob:
        for _ in range(50):
            await ob.put("scan", T + "scan", render("scan"))
        fill(fs, leave_bytes=0)
        with pytest.raises(OutboxFullError):
            for _ in range(100_000):  # until even a one-row update finds no room
                await ob.next_counter("exhaust")
        link = Link(ob, link_settings(broker.url), status=status_render)
        async with running(link.run):
            await asyncio.wait_for(link.wait_connected(), 30)
            assert link.counters.connects == 1
