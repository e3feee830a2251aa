"""The backend store on SQLite and on a real PostgreSQL: dedupe, high-water marks, gaps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sync.envelope import Incoming
from sync.errors import StoreError
from sync.store import Reject, Store, open_store


def rec(seq: int, epoch: str = "e1", agent: str = "a1", dropped: bool = False, **kw: object) -> Incoming:
    return Incoming(
        "s1", agent, epoch, seq, "scan", b"" if dropped else b'{"x":1}', dropped, False, None, **kw
    )  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    db = str(tmp_path / "b.sqlite3") if request.param == "sqlite" else request.getfixturevalue("pg_db")
    s = open_store(db)
    request.addfinalizer(s.close)
    return s


def test_insert_if_absent_and_contiguous_high_water_mark(store: Store) -> None:
    r = store.commit([rec(1), rec(2), rec(4), rec(2)])
    assert (r.inserted, r.duplicates) == (3, 1)
    (st,) = r.streams
    assert (st.hw, st.max_seq) == (2, 4)  # 3 is missing
    (stats,) = store.stats()
    assert (stats.count, stats.missing, stats.duplicates) == (3, 1, 1)
    r = store.commit([rec(3, dropped=True), rec(5)])  # a tombstone closes the gap
    assert r.streams[0].hw == 5
    (stats,) = store.stats()
    assert (stats.count, stats.dropped, stats.missing) == (4, 1, 0)
    assert [s for _a, _e, s, _k, _p in store.records()] == [1, 2, 3, 4, 5]


def test_epochs_and_agents_are_separate_streams(store: Store) -> None:
    r = store.commit([rec(1, "e1"), rec(1, "e2"), rec(1, agent="a2"), rec(2, "e2")])
    assert r.inserted == 4
    assert {(s.agent, s.epoch): s.hw for s in r.streams} == {
        ("a1", "e1"): 1,
        ("a1", "e2"): 2,
        ("a2", "e1"): 1,
    }


def test_high_water_mark_walks_past_long_contiguous_runs(store: Store) -> None:
    store.commit([rec(s) for s in range(2, 2600)])
    r = store.commit([rec(1)])
    assert r.streams[0].hw == 2599


def test_rejects_are_kept_and_presence_tracks_latest_session(store: Store) -> None:
    store.commit([rec(1, state="online", session=1)], [Reject("baygate/v1/x", b"\xff", "not JSON")])
    assert store.rejects() == [Reject("baygate/v1/x", b"\xff", "not JSON")]
    assert store.presence() == {"a1": ("online", 1)}
    store.commit([rec(1, state="offline", session=1)])  # the Last Will: same id, a duplicate record
    assert store.presence() == {"a1": ("offline", 1)}
    store.commit([rec(2, state="online", session=2)])
    store.commit([rec(1, state="offline", session=1)])  # a late will of the old session
    assert store.presence() == {"a1": ("online", 2)}


def test_a_batch_larger_than_one_statement_is_stored_whole(store: Store) -> None:
    # Inserts go a few hundred rows per statement; a duplicate may sit in another chunk.
    batch = [rec(s) for s in range(1, 1201)] + [rec(7), rec(1150)]
    r = store.commit(batch)
    assert (r.inserted, r.duplicates) == (1200, 2)
    assert r.streams[0].hw == 1200
    assert len(store.records()) == 1200


def test_postgresql_without_the_backend_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Pi installs baygate without [backend]: no psycopg, one clear line.
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    with pytest.raises(StoreError, match=r"pip install 'baygate\[backend\]'") as info:
        open_store("postgresql://ingest:s3cret@db.example/baygate")
    assert "s3cret" not in str(info.value)
