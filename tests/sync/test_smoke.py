"""The happy path: records reach the backend once, and the backend ack frees the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.sync import agent_side, ingest, render, until


@pytest.mark.anyio
async def test_records_reach_the_backend_once_and_leave_the_outbox(broker: Broker, tmp_path: Path) -> None:
    async with (
        ingest(broker.url, tmp_path / "b.sqlite3") as ing,
        agent_side(tmp_path, broker.url) as (ob, link),
    ):
        seqs = [await ob.put("scan", "baygate/v1/shop-t/agent-t/scan", render("scan")) for _ in range(50)]
        assert seqs == sorted(seqs)
        await until(lambda: ing.counters.inserted >= 51, what="ingest")
        await until(lambda: link.backend_hw >= seqs[-1], what="ack")
        assert ob.last_seq == 51  # 50 scans and the birth
        for _ in range(250):  # the delete follows the ack asynchronously
            if (await ob.stats()).depth == 0:
                break
            await asyncio.sleep(0.02)
        assert (await ob.stats()).depth == 0
        assert ing.counters.duplicates == 0
