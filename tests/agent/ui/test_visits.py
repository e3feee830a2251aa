"""Visits on records made by the real producers (ELM327 simulator -> vehicle report,
the camera's classify -> scan): pre/post scans and their difference, the end of a
visit, restart, and what changed since the last visit of the same car."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import MemorySink
from agent.records import ScanRecord, VisitRecord
from agent.ui.errors import VisitStateError
from agent.ui.store import UiStore
from agent.ui.visits import VisitBook
from drivers.camera import Code
from tests.support.ui import pre_and_post

pytestmark = pytest.mark.anyio

VIN = "1FTFW1ET9DFC10312"  # the petrol-can profile's car


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _book(path: Path, sink: MemorySink, clock: Clock, idle_end_s: float = 900.0) -> VisitBook:
    book = VisitBook(await UiStore.open(path), sink, idle_end_s=idle_end_s, clock=clock)
    await book.load()
    return book


def _visits(sink: MemorySink) -> list[VisitRecord]:
    return [r for r in sink.records if isinstance(r, VisitRecord)]


async def test_finish_takes_the_post_scan_and_the_difference(tmp_path: Path) -> None:
    producer = MemorySink()
    scans = await pre_and_post(producer)
    sink, clock = MemorySink(), Clock()
    book = await _book(tmp_path / "ui.sqlite3", sink, clock)

    v = await book.on_record("1", scans.pre)
    assert v is not None and v.pre is not None and v.pre.report == scans.pre.id and v.vin == VIN
    await book.on_record("1", scans.post)
    done = await book.finish(v.visit, technician="dana")

    assert done.state == "finished" and done.post is not None and done.post.report == scans.post.id
    assert done.diff is not None
    # Mode 04 clears stored and pending codes; a permanent code (P0301 here) stays until
    # the ECU itself sees the fault fixed (SAE J1979), so it is still present.
    assert "P0133" in done.diff.cleared and "P0301" in done.diff.still_present
    assert done.diff.new == []
    assert done.diff.mil_before is True and done.diff.freeze_frame_cleared
    # The backend hears of it: an open record, then the finished one with both scans.
    recs = _visits(sink)
    assert recs[0].state == "open" and recs[-1].state == "finished"
    assert recs[-1].visit == v.visit and recs[-1].technician == "dana" and recs[-1].diff == done.diff
    with pytest.raises(VisitStateError):
        await book.finish(v.visit)


async def test_open_visit_survives_a_restart(tmp_path: Path) -> None:
    producer = MemorySink()
    scans = await pre_and_post(producer)
    clock = Clock()
    book = await _book(tmp_path / "ui.sqlite3", MemorySink(), clock)
    v = await book.on_record("1", scans.pre)
    assert v is not None
    await book.store.aclose()

    again = await _book(tmp_path / "ui.sqlite3", MemorySink(), clock)
    assert again.open["1"].visit == v.visit and again.open["1"].pre == v.pre
    await again.on_record("1", scans.post)
    done = await again.finish(v.visit)
    assert done.diff is not None and "P0133" in done.diff.cleared


async def test_car_gone_for_the_idle_time_ends_the_visit(tmp_path: Path) -> None:
    producer = MemorySink()
    scans = await pre_and_post(producer)
    clock = Clock()
    clock.now = scans.pre.ts
    sink = MemorySink()
    book = await _book(tmp_path / "ui.sqlite3", sink, clock, idle_end_s=600)
    await book.on_record("1", scans.pre)
    clock.now += timedelta(seconds=599)
    assert await book.sweep() == []
    clock.now += timedelta(seconds=2)
    gone = await book.sweep()
    assert [g.state for g in gone] == ["gone"] and book.open == {}
    assert _visits(sink)[-1].state == "gone" and _visits(sink)[-1].post is None


async def test_a_scanned_vin_opens_the_visit_and_the_dongle_report_is_its_pre_scan(tmp_path: Path) -> None:
    cam = MemorySink()
    code = Code(symbology="CODE39", payload=VIN, position=((0, 0),) * 4, confidence=1.0, decoder="zxing")
    await cam.emit("scan", scan_body("bay1-cam", code, []))
    scan = cam.records[-1]
    assert isinstance(scan, ScanRecord) and scan.vin is not None and scan.vin.verified

    producer = MemorySink()
    scans = await pre_and_post(producer)
    sink = MemorySink()
    book = await _book(tmp_path / "ui.sqlite3", sink, Clock())
    v = await book.on_record("1", scan)
    assert v is not None and v.started_by == "scan" and v.vin == VIN and v.pre is None
    v2 = await book.on_record("1", scans.pre)
    assert v2 is v and v.pre is not None and v.pre.report == scans.pre.id


async def test_another_car_in_the_bay_ends_the_visit_before_it(tmp_path: Path) -> None:
    producer = MemorySink()
    petrol = await pre_and_post(producer)
    diesel = await pre_and_post(producer, profile="diesel-can")
    assert petrol.pre.vin != diesel.pre.vin
    sink = MemorySink()
    book = await _book(tmp_path / "ui.sqlite3", sink, Clock())
    first = await book.on_record("1", petrol.pre)
    second = await book.on_record("1", diesel.pre)
    assert first is not None and second is not None and first.visit != second.visit
    assert first.state == "gone" and book.open["1"] is second


async def test_history_says_which_codes_came_back_after_a_clear(tmp_path: Path) -> None:
    producer = MemorySink()
    first = await pre_and_post(producer)
    book = await _book(tmp_path / "ui.sqlite3", MemorySink(), Clock())
    v1 = await book.on_record("1", first.pre)
    await book.on_record("1", first.post)
    assert v1 is not None
    await book.finish(v1.visit)

    # A week later the same car is back, codes set again (a fresh simulator session).
    again = await pre_and_post(producer)
    v2 = await book.on_record("1", again.pre)
    assert v2 is not None and v2.visit != v1.visit
    past, change = await book.history(VIN, exclude=v2.visit)
    assert [p.visit for p in past] == [v1.visit]
    assert "P0133" in change["came_back"] and change["new"] == []
    assert "P0301" in change["recurring"]  # never cleared: still there from the last visit
