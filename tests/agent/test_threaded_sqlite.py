"""The one threaded-SQLite class under the enrichment state and the bay screen's store:
a transaction is all or nothing, and SQLite's errors come out as each package's own,
naming the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.enrich.db import StateDB
from agent.enrich.errors import EnrichError
from agent.threaded_sqlite import ThreadedSQLite
from agent.ui.errors import UiError
from agent.ui.store import UiStore

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("cls", "error", "what"), [
    (StateDB, EnrichError, "enrichment state database"),
    (UiStore, UiError, "bay screen state"),
])  # fmt: skip
async def test_each_store_is_one_and_speaks_its_own_errors(
    tmp_path: Path, cls: type[ThreadedSQLite], error: type[Exception], what: str
) -> None:
    db = await cls.open(tmp_path / "state" / "x.sqlite3")
    try:
        assert isinstance(db, ThreadedSQLite) and db.path.exists()
        with pytest.raises(error, match=f"^{what}: no such table: nowhere"):
            await db.run(lambda c: c.execute("SELECT * FROM nowhere"))
    finally:
        await db.aclose()
    (tmp_path / "dir.sqlite3").mkdir()  # a directory where the file should be
    with pytest.raises(error, match=f"^{what} {tmp_path / 'dir.sqlite3'}: "):
        await cls.open(tmp_path / "dir.sqlite3")


class _Notes(ThreadedSQLite):
    SCHEMA = "CREATE TABLE IF NOT EXISTS notes (n INTEGER);"


async def test_a_failing_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = await _Notes.open(tmp_path / "n.sqlite3")

    def half(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO notes VALUES (1)")
        raise ValueError("half way")

    try:
        with pytest.raises(ValueError, match="half way"):
            await db.run(half)
        await db.run(lambda c: c.execute("INSERT INTO notes VALUES (2)"))
        rows = await db.run(lambda c: c.execute("SELECT n FROM notes").fetchall())
        assert rows == [(2,)]
    finally:
        await db.aclose()
