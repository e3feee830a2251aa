"""`baygate backend --keys-dir` as a process on the shipped broker setup: it stores only
records signed with their agent's key and of the agent's kinds, and its signed acks
free the agent's outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.auth import MAC_PROPERTY, sign
from sync.link import Link
from sync.outbox import Outbox
from sync.provision import BACKEND_USER
from sync.store import open_store
from tests.conftest import SecureBroker
from tests.support.sync import SHOP, drained, link_settings, render, running, status_render, until

AGENT = "agent-t"
BASE = f"baygate/v1/{SHOP}/{AGENT}"
ROOT = Path(__file__).resolve().parents[2]


def publish(sb: SecureBroker, user: tuple[str, str], topic: str, payload: bytes, mac: str) -> None:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.username_pw_set(*user)
    c.connect("127.0.0.1", sb.broker.port)
    c.loop_start()
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [(MAC_PROPERTY, mac)]
    c.publish(topic, payload, qos=1, properties=props).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


@pytest.mark.anyio
async def test_the_backend_command_verifies_records_and_kinds(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    sb, db = secure_broker, tmp_path / "backend.sqlite3"
    me = sb.add_agent(SHOP, AGENT)
    cmd = [
        sys.executable, "-m", "agent", "backend", "--db", str(db), "--mqtt", sb.url,
        "--client-id", "cli-auth", "--username", BACKEND_USER, "--password", sb.backend_password,
        "--keys-dir", str(sb.keys_dir),
    ]  # fmt: skip
    # A file, not a pipe: a chatty process must never block on a full pipe buffer.
    log = os.open(tmp_path / "backend.log", os.O_WRONLY | os.O_CREAT, 0o600)
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=log, stderr=log)
    try:
        settings = link_settings(sb.url, username=me.username, password=me.password, auth_key=me.key)
        async with Outbox(tmp_path / "o.sqlite3") as ob:
            link = Link(ob, settings, status=status_render)
            async with running(link.run):
                await link.wait_connected()
                for _ in range(10):
                    await ob.put("scan", f"{BASE}/scan", render("scan"))
                await until(lambda: link.backend_hw >= ob.last_seq, timeout=60, what="signed acks")
                epoch, nxt = ob.epoch, ob.last_seq + 1
                # the agent's own credentials, a well-signed record of a kind the agent
                # does not have, and a forged record with the next seq
                bogus = render("bogus")(nxt, epoch)
                good_mac = sign(me.key, f"{BASE}/bogus", bogus)
                forged = render("scan")(nxt, epoch)
                user = (me.username, me.password)
                await asyncio.to_thread(publish, sb, user, f"{BASE}/bogus", bogus, good_mac)
                await asyncio.to_thread(publish, sb, user, f"{BASE}/scan", forged, "00" * 32)
                await ob.put("scan", f"{BASE}/scan", render("scan", {"real": True}))
                await until(lambda: link.backend_hw >= ob.last_seq, timeout=60, what="the real next seq")
                await drained(ob)
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rc = await proc.wait()
        os.close(log)
    assert rc == 0, (tmp_path / "backend.log").read_text()[-2000:]
    store = open_store(str(db))
    try:
        rows = [r for r in store.records(AGENT) if r[1] == epoch]
        reasons = [r.reason for r in store.rejects()]
    finally:
        store.close()
    assert [s for _a, _e, s, _k, _p in rows] == list(range(1, nxt + 1))
    assert b'"real": true' in (rows[-1][4] or b"")  # the agent's record, not the forgery
    assert any("not a record kind" in r for r in reasons)
    assert any("MAC does not verify" in r for r in reasons)
