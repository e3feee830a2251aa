"""The authenticated link and ingest on the shipped broker setup: births, records and
the Last Will all verify at the backend, and its signed acks free the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.envelope import Rules
from sync.link import Link
from sync.outbox import Outbox
from sync.provision import BACKEND_USER
from sync.store import open_store
from tests.conftest import SecureBroker
from tests.support.sync import SHOP, drained, ingest, link_settings, render, running, status_render, until

AGENT = "agent-t"  # tests.support.sync renders records for this agent
SCAN = f"baygate/v1/{SHOP}/{AGENT}/scan"


def presence(db: Path) -> dict[tuple[str, str], tuple[str, int]]:
    store = open_store(str(db))
    try:
        return store.presence()
    finally:
        store.close()


@pytest.mark.anyio
async def test_signed_records_births_and_last_will_verify_and_acks_free_the_outbox(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    sb, db = secure_broker, tmp_path / "b.sqlite3"
    me = sb.add_agent(SHOP, AGENT)
    settings = link_settings(sb.url, username=me.username, password=me.password, auth_key=me.key)
    kinds = Rules(kinds=frozenset({"scan", "status"}))
    async with (
        ingest(
            sb.url, db, username=BACKEND_USER, password=sb.backend_password, keys_dir=sb.keys_dir, rules=kinds
        ) as ing,
        Outbox(tmp_path / "o.sqlite3") as ob,
    ):
        link = Link(ob, settings, status=status_render)
        async with running(link.run):
            await link.wait_connected()
            for _ in range(25):
                await ob.put("scan", SCAN, render("scan"))
            await until(lambda: link.backend_hw >= ob.last_seq, what="signed acks")
            await until(lambda: presence(db).get((SHOP, AGENT)) == ("online", 1), what="birth")
            await drained(ob)  # the backend's signed acks free every row
        # cancelled: a clean disconnect with the Will, which the broker publishes
        await until(lambda: presence(db).get((SHOP, AGENT)) == ("offline", 1), what="signed Last Will")
        assert ing.counters.unauthenticated == 0 and ing.counters.rejected == 0
        assert link.counters.unauthenticated == 0 and link.counters.bad_acks == 0
