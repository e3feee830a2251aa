"""The backend store on SQLite and on a real PostgreSQL: dedupe, high-water marks, gaps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sync.envelope import Incoming
from sync.errors import StoreError
from sync.store import Reject, Store, open_store


def rec(
    seq: int, epoch: str = "e1", agent: str = "a1", dropped: bool = False, shop: str = "s1", **kw: object
) -> Incoming:
    return Incoming(
        shop, agent, epoch, seq, "scan", b"" if dropped else b'{"x":1}', dropped, False, None, **kw
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
    assert store.presence() == {("s1", "a1"): ("online", 1)}
    store.commit([rec(1, state="offline", session=1)])  # the Last Will: same id, a duplicate record
    assert store.presence() == {("s1", "a1"): ("offline", 1)}
    store.commit([rec(2, state="online", session=2)])
    store.commit([rec(1, state="offline", session=1)])  # a late will of the old session
    assert store.presence() == {("s1", "a1"): ("online", 2)}


def test_two_shops_bay_1_have_their_own_presence(store: Store) -> None:
    # issue 10: presence was keyed by agent id alone; shop B's bay-1 overwrote shop A's
    store.commit([rec(1, "eA", agent="bay-1", shop="shop-a", state="online", session=5)])
    store.commit([rec(1, "eB", agent="bay-1", shop="shop-b", state="online", session=1)])
    store.commit([rec(2, "eB", agent="bay-1", shop="shop-b", state="offline", session=1)])
    assert store.presence() == {("shop-a", "bay-1"): ("online", 5), ("shop-b", "bay-1"): ("offline", 1)}


def test_rejects_are_truncated_and_capped(tmp_path: Path) -> None:
    # issue 10: ten 8 MiB rejects added 126 MB to the backend's database
    db = tmp_path / "b.sqlite3"
    store = open_store(str(db))
    store.max_rejects = 50
    try:
        for i in range(10):
            store.commit([], [Reject("baygate/v1/s/a/scan", b"x" * (8 << 20), f"too big {i}")])
        for i in range(100):
            store.commit([], [Reject("baygate/v1/s/a/scan", b"[" * 100, f"deep {i}")])
        kept = store.rejects()
        assert len(kept) == 50 and kept[-1].reason == "deep 99" and kept[0].reason == "deep 50"
    finally:
        store.close()
    assert db.stat().st_size < 4 << 20  # the 80 MiB of payload never reached the disk


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
