"""Opening a fresh SQLite backend store from several processes at once (the ingest
starting while `baygate backend --stats` or a test reads it) must not fail with
"database is locked": SQLite's switch to WAL does not wait for the busy timeout.
Seen once in CI (tests/e2e/test_agent_e2e.py); four threads on 150 fresh files made it
happen in ~3 % of the files before the retry."""

from __future__ import annotations

import threading
from pathlib import Path

from sync.errors import StoreError
from sync.store import open_store


def test_a_fresh_store_opened_by_four_at_once_opens_for_all(tmp_path: Path) -> None:
    errors: list[str] = []

    def open_and_close(db: Path) -> None:
        try:
            open_store(str(db)).close()
        except StoreError as exc:
            errors.append(str(exc))

    for i in range(150):
        db = tmp_path / f"b{i}.sqlite3"
        threads = [threading.Thread(target=open_and_close, args=(db,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
