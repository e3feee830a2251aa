"""`baygate backend --stats` on a real store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from sync.envelope import Incoming
from sync.store import open_store


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() installs log handlers on pytest's captured stderr; later tests' log lines
    must not go to a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_stats_prints_counts_gaps_and_lag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "b.sqlite3"
    store = open_store(str(db))
    recs = [Incoming("shop1", "bay1", "epoch-1", s, "scan", b"{}", False, False, None) for s in (1, 2, 5)]
    store.commit(recs)
    store.close()
    assert main(["backend", "--stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["shop/agent", "epoch", "records", "hw", "max", "gaps"]
    assert out[1].split()[:6] == ["shop1/bay1", "epoch-1", "3", "2", "5", "2"]


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "--stats", "--db", "postgresql://nobody@127.0.0.1:1/x"]) == 1
    assert "cannot open backend store" in capsys.readouterr().err
