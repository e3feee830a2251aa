"""`baygate run` as a real process: it connects, announces itself, and on SIGTERM stops
cleanly with its Last Will, so the backend sees it go offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.store import open_store
from tests.support.agent_process import agent_process, stops_cleanly_on_sigterm
from tests.support.broker import Broker
from tests.support.sync import ingest, until


def presence(db: Path) -> dict[tuple[str, str], tuple[str, int]]:
    if not db.exists():
        return {}
    store = open_store(str(db))
    try:
        return store.presence()
    finally:
        store.close()


@pytest.mark.anyio
async def test_run_goes_online_and_offline_on_sigterm(broker: Broker, tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(
        f'[agent]\nshop_id = "shop-run"\nagent_id = "bay-run"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nurl = "{broker.url}"\n'
    )
    db = tmp_path / "b.sqlite3"
    async with ingest(broker.url, db):
        with agent_process("--config", str(conf), "run") as proc:
            await until(lambda: presence(db).get(("shop-run", "bay-run")) == ("online", 1), what="birth")
            await stops_cleanly_on_sigterm(proc, 20)
            me = ("shop-run", "bay-run")
            await until(lambda: presence(db).get(me) == ("offline", 1), what="Last Will on shutdown")
