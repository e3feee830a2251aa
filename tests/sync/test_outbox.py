"""The outbox on a real SQLite file: seqs, epochs, group commit, caps, disk full."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sync.errors import OutboxClosedError, OutboxFullError, PayloadTooLargeError
from sync.outbox import Outbox
from tests.support.sync import render

T = "baygate/v1/shop-t/agent-t/"


@pytest.mark.anyio
async def test_seqs_increase_and_are_never_reused_across_deletes_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    async with Outbox(db) as ob:
        epoch = ob.epoch
        first = [await ob.put("scan", T + "scan", render("scan")) for _ in range(5)]
        assert first == [1, 2, 3, 4, 5]
        await ob.mark_sent(first)
        await ob.delete_through(5)
        assert (await ob.stats()).depth == 0
    async with Outbox(db) as ob:
        assert ob.epoch == epoch  # the epoch lives with the database
        assert await ob.put("scan", T + "scan", render("scan")) == 6


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["kept", "backend_ack", "retention"])
async def test_the_next_seq_survives_reopen_however_rows_left(tmp_path: Path, how: str) -> None:
    # Put transactions store no counter: the next seq comes from the rows on disk,
    # or from what a deleting transaction stored. Each way must resume after 7.
    db = tmp_path / "o.sqlite3"
    now = [1000.0]
    async with Outbox(db, clock=lambda: now[0]) as ob:
        for _ in range(7):
            await ob.put("scan", T + "scan", render("scan"))
        if how == "backend_ack":
            await ob.mark_sent(range(1, 8))
            await ob.delete_through(7)
        elif how == "retention":
            await ob.mark_sent(range(4, 8))
            now[0] += 100
            assert await ob.delete_acked_before(50) == 4  # the newest rows went, 1-3 stay
    async with Outbox(db) as ob:
        assert ob.last_seq == 7
        assert await ob.put("scan", T + "scan", render("scan")) == 8


@pytest.mark.anyio
async def test_a_new_database_gets_a_new_epoch(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "a.sqlite3") as a, Outbox(tmp_path / "b.sqlite3") as b:
        assert a.epoch and b.epoch and a.epoch != b.epoch


@pytest.mark.anyio
async def test_render_gets_seq_and_epoch_and_a_failing_render_consumes_no_seq(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3") as ob:

        def bad(seq: int, epoch: str) -> bytes:
            raise ValueError("invalid record")

        await ob.put("scan", T + "scan", render("scan"))
        with pytest.raises(ValueError, match="invalid record"):
            await ob.put("scan", T + "scan", bad)
        seq = await ob.put("scan", T + "scan", lambda s, e: f"{e}:{s}".encode())
        assert seq == 2
        rows = await ob.pending()
        assert rows[-1].payload == f"{ob.epoch}:2".encode()


@pytest.mark.anyio
async def test_oversize_payload_is_refused_without_consuming_a_seq(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3", max_payload=1000) as ob:
        with pytest.raises(PayloadTooLargeError, match="1000-byte limit"):
            await ob.put("scan", T + "scan", lambda s, e: b"x" * 1001)
        assert await ob.put("scan", T + "scan", render("scan")) == 1


@pytest.mark.anyio
async def test_concurrent_puts_share_commits_of_at_most_max_batch(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3", max_batch=100) as ob:
        before = ob.commits
        seqs = await asyncio.gather(*(ob.put("scan", T + "scan", render("scan")) for _ in range(500)))
        commits = ob.commits - before
        assert sorted(seqs) == list(range(1, 501))
        assert 5 <= commits < 500  # grouped, and never more than 100 rows per commit


@pytest.mark.anyio
async def test_committed_rows_survive_reopen_with_wal_and_full_sync(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    async with Outbox(db) as ob:
        await ob.put("scan", T + "scan", render("scan"))
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 1
    con.close()


@pytest.mark.anyio
async def test_telemetry_over_its_cap_drops_oldest_as_counted_tombstones(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3", caps={"telemetry": 10}) as ob:
        for _ in range(5):
            await ob.put("scan", T + "scan", render("scan"))
        for _ in range(15):
            await ob.put("telemetry", T + "telemetry", render("telemetry"))
        st = await ob.stats()
        assert st.dropped == {"telemetry": 5}
        rows = await ob.pending(limit=100)
        assert [r.seq for r in rows] == list(range(1, 21))  # seqs kept: no silent gap
        dropped = [r.seq for r in rows if r.dropped]
        assert dropped == [6, 7, 8, 9, 10]  # the oldest telemetry
        assert all(r.payload == b"" for r in rows if r.dropped)
        assert all(not r.dropped and r.payload for r in rows if r.stream == "scan")


@pytest.mark.anyio
async def test_disk_full_refuses_new_work_keeps_old_and_recovers_after_acks(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3", max_bytes=256 * 1024) as ob:
        big = b"s" * 8000
        taken = []
        with pytest.raises(OutboxFullError, match="new records refused"):
            for _ in range(1000):
                taken.append(await ob.put("scan", T + "scan", lambda s, e: big))
        assert len(taken) > 5
        # refused at once now, without touching the disk
        with pytest.raises(OutboxFullError):
            await ob.put("scan", T + "scan", render("scan"))
        # the reserve still takes a small alert
        alert = await ob.put("alert", T + "alert", render("alert"), reserve=True)
        assert alert == taken[-1] + 1
        st = await ob.stats()
        assert st.full and st.pending == len(taken) + 1  # nothing old was lost
        # PUBACKs for rows the backend already committed delete them: no page needed
        await ob.mark_sent(taken[: len(taken) // 2], committed_through=taken[len(taken) // 2])
        assert await ob.put("scan", T + "scan", render("scan")) == alert + 1


@pytest.mark.anyio
async def test_held_rows_wait_until_released_or_become_tombstones(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        h = await ob.hold("status", T + "status", render("status"), retain=True)
        assert await ob.pending() == []
        await ob.mark_sent([h])  # not PENDING, so this marks nothing
        await ob.delete_through(h)  # a backend ack never deletes a held row
        assert (await ob.stats()).held == 1
        await ob.release_held()
        (row,) = await ob.pending()
        assert row.seq == h and row.retain and row.payload
        h2 = await ob.hold("status", T + "status", render("status"))
        await ob.drop_held()
        rows = await ob.pending()
        assert rows[-1].seq == h2 and rows[-1].dropped


@pytest.mark.anyio
async def test_sent_rows_can_be_requeued_and_expire_in_retention_mode(tmp_path: Path) -> None:
    now = [1000.0]
    async with Outbox(tmp_path / "o.sqlite3", clock=lambda: now[0]) as ob:
        for _ in range(4):
            await ob.put("scan", T + "scan", render("scan"))
        await ob.mark_sent([1, 2, 3])
        assert [r.seq for r in await ob.pending()] == [4]
        assert await ob.requeue(3) == 1
        assert [r.seq for r in await ob.pending()] == [3, 4]
        now[0] += 100
        assert await ob.delete_acked_before(50) == 2  # seqs 1, 2
        assert (await ob.stats()).depth == 2


@pytest.mark.anyio
async def test_a_closed_outbox_refuses_puts(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite3")
    await ob.open()
    await ob.close()
    with pytest.raises(OutboxClosedError):
        await ob.put("scan", T + "scan", render("scan"))


@pytest.mark.anyio
async def test_an_ack_never_deletes_a_row_the_broker_never_took(tmp_path: Path) -> None:
    # issue 10: a forged (or early) backend ack deleted PENDING rows that had never
    # been PUBACKed; with a broker without persistence they were lost for good.
    async with Outbox(tmp_path / "o.sqlite3") as ob:
        seqs = [await ob.put("scan", T + "scan", render("scan")) for _ in range(10)]
        await ob.mark_sent(seqs[:4])
        assert await ob.delete_through(seqs[-1]) == 4
        st = await ob.stats()
        assert st.depth == 6 and st.pending == 6
        assert [r.seq for r in await ob.pending()] == seqs[4:]
        await ob.requeue(0)  # a reconnect: nothing SENT left, nothing revived
        await ob.mark_sent(seqs[4:6])
        assert await ob.delete_through(seqs[-1]) == 2
        # the link's path: PUBACKs that arrive after the backend's ack delete at once
        await ob.mark_sent(seqs[6:8], committed_through=seqs[-1])
        assert [r.seq for r in await ob.pending()] == seqs[8:]
