"""`baygate run` as a real process: it connects, announces itself, and on SIGTERM stops
cleanly with its Last Will, so the backend sees it go offline."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync.store import open_store
from tests.support.broker import Broker
from tests.support.sync import ingest, until

ROOT = Path(__file__).resolve().parents[2]


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
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited on in a thread
            [sys.executable, "-m", "agent", "--config", str(conf), "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await until(lambda: presence(db).get(("shop-run", "bay-run")) == ("online", 1), what="birth")
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.to_thread(proc.wait, 20)
            assert rc == 0, proc.stderr.read() if proc.stderr else b""
            me = ("shop-run", "bay-run")
            await until(lambda: presence(db).get(me) == ("offline", 1), what="Last Will on shutdown")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
