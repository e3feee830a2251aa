"""The outbox's in-memory tail never disagrees with SQLite.

The link takes rows from `Outbox.fresh` while it keeps up and from `Outbox.pending`
otherwise; a tail that handed out a stale row (acked, deleted, tombstoned) or missed
one would send wrong data or lose a record, so the invariant is checked against the
database after every operation of random workloads.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sync.outbox import Outbox
from sync.outbox_schema import Row
from sync.outbox_tail import Tail
from tests.support.sync import render

T = "baygate/v1/s/a/"


def row(seq: int) -> Row:
    return Row(seq, "scan", T + "scan", b"{}", False, 0.0, 0, False)


def test_a_reader_below_the_floor_is_sent_to_sqlite() -> None:
    tail = Tail(floor=10)
    tail.extend(row(s) for s in (11, 12, 13))
    assert tail.take(after=9, limit=10) is None
    assert [r.seq for r in tail.take(after=10, limit=2) or []] == [11, 12]
    assert tail.floor == 12
    assert tail.take(after=11, limit=10) is None  # rewound below what it took


def test_a_reader_past_the_floor_skips_what_it_already_has() -> None:
    tail = Tail(floor=0)
    tail.extend(row(s) for s in range(1, 6))
    assert [r.seq for r in tail.take(after=3, limit=10) or []] == [4, 5]
    assert tail.take(after=5, limit=10) == []


def test_acked_deleted_and_invalidated_rows_leave_the_tail() -> None:
    tail = Tail(floor=0)
    tail.extend(row(s) for s in range(1, 8))
    tail.discard([2, 5])
    tail.trim_through(3)
    assert [r.seq for r in tail.take(after=0, limit=10) or []] == [4, 6, 7]
    tail.extend([row(8)])
    tail.invalidate(8)
    assert len(tail) == 0 and tail.floor == 8


def test_a_full_tail_gives_up_instead_of_growing() -> None:
    tail = Tail(floor=0, limit=3)
    tail.extend(row(s) for s in range(1, 5))
    assert len(tail) == 0 and tail.floor == 4  # 1..4 are read from SQLite
    tail.extend([row(5)])
    assert [r.seq for r in tail.take(after=4, limit=9) or []] == [5]


async def _check(ob: Outbox) -> None:
    """The invariant: the pending rows above the floor are exactly the tail's rows."""
    db = await ob.pending(after=ob.tail.floor, limit=10_000)
    assert [(r.seq, r.payload, r.dropped) for r in ob.tail] == [(r.seq, r.payload, r.dropped) for r in db]


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(6))
async def test_fresh_rows_always_match_the_database(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    async with Outbox(tmp_path / "o.sqlite3", caps={"telemetry": 4}, linger_s=0) as ob:
        cursor, sent = 0, []
        for _ in range(300):
            step = rng.random()
            if step < 0.45:
                stream = rng.choice(["scan", "telemetry"])
                await ob.put(stream, T + stream, render(stream))
            elif step < 0.6:  # the sender takes a few rows
                rows = ob.fresh(cursor, rng.randint(1, 8))
                if rows is None:
                    rows = await ob.pending(after=cursor, limit=rng.randint(1, 8))
                sent += [r.seq for r in rows]
                cursor = rows[-1].seq if rows else cursor
            elif step < 0.72 and sent:  # PUBACKs, in order or not
                k = rng.randint(1, len(sent))
                acked, sent = (sent[:k], sent[k:]) if rng.random() < 0.7 else (rng.sample(sent, k), [])
                await ob.mark_sent(acked)
            elif step < 0.8:
                await ob.delete_through(rng.randint(0, ob.last_seq))
            elif step < 0.86:
                await ob.hold("status", T + "status", render("status"))
            elif step < 0.9:
                await ob.release_held()
            elif step < 0.95:  # reconnect: everything unconfirmed again, reader rewinds
                await ob.requeue(0)
                cursor, sent = 0, []
            else:
                cursor = rng.randint(0, cursor)  # a rewind (replay, no-subscriber retry)
            await _check(ob)
