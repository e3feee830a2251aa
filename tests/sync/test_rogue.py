"""The rogue-client test (issue 10): every forgery from the issue, published by a client
that is not the agent and not the backend, is refused or contained; the agent and the
backend go on delivering, and every committed seq is at the backend exactly once.

Run twice:
- `acl`: against the shipped broker setup (`baygate broker init` + `add-agent`), the
  rogue holding the broker credentials of ANOTHER agent: the ACLs refuse it;
- `hmac_only`: on a broker without ACLs or passwords, the rogue anonymous: nothing but
  the end-to-end MACs (sync/auth.py) stands between it and the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.envelope import Rules
from sync.ingest import Ingest
from sync.link import Link, StatusInfo
from sync.outbox import Outbox
from sync.provision import BACKEND_USER, add_agent, init_dir
from tests.conftest import SecureBroker
from tests.support.broker import Broker
from tests.support.sync import (
    SHOP,
    add_replay,
    ingest,
    link_settings,
    render,
    running,
    store_records,
    until,
)

AGENT = "bay-1"
BASE = f"baygate/v1/{SHOP}/{AGENT}"
KINDS = frozenset({"scan", "status", "telemetry", "alert"})
POISON = b"[" * 5000 + b"]" * 5000  # 10 kB, depth 5,000: RecursionError in json.loads


@dataclass
class Setup:
    url: str
    port: int
    keys_dir: Path
    agent_user: tuple[str, str] | None  # the agent's broker credentials
    backend_user: tuple[str, str] | None
    rogue_user: tuple[str, str] | None  # another agent's credentials, or anonymous
    key: bytes


@pytest.fixture(params=["acl", "hmac_only"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    if request.param == "acl":
        sb: SecureBroker = request.getfixturevalue("secure_broker")
        me = sb.add_agent(SHOP, AGENT)
        rogue = sb.add_agent(SHOP, "bay-2")  # a real agent of the same shop gone rogue
        return Setup(
            sb.url,
            sb.broker.port,
            sb.keys_dir,
            (me.username, me.password),
            (BACKEND_USER, sb.backend_password),
            (rogue.username, rogue.password),
            me.key,
        )
    b = Broker(workdir=tmp_path / "mosquitto")  # anonymous, no ACL
    b.start()
    request.addfinalizer(b.stop)
    d = tmp_path / "keys-only"
    init_dir(d)
    me = add_agent(d, SHOP, AGENT)
    return Setup(b.url, b.port, d / "keys", None, None, None, me.key)


def status(seq: int, epoch: str, info: StatusInfo) -> bytes:
    body = {"state": info.state, "session": info.session, "genuine": True}
    return render("status", body, agent=AGENT)(seq, epoch)


def genuine(kind: str) -> object:
    return render(kind, {"genuine": True}, agent=AGENT)


def publish_as(
    s: Setup, items: list[tuple[str, bytes, dict[str, object]]], *, qos: int = 1, retain: bool = False
) -> None:
    """Publish each item on a connection of the rogue's own (mosquitto may drop the
    connection of a client that publishes where its ACL forbids: reconnect)."""
    c: paho.Client | None = None
    for topic, payload, p in items:
        if c is None or not c.is_connected():
            if c is not None:
                c.loop_stop()
            c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
            if s.rogue_user:
                c.username_pw_set(*s.rogue_user)
            c.connect("127.0.0.1", s.port)
            c.loop_start()
        props = Properties(PacketTypes.PUBLISH)
        for k, v in p.items():
            setattr(props, k, v)
        with contextlib.suppress(RuntimeError, ValueError):
            info = c.publish(topic, payload, qos=qos, retain=retain, properties=props)
            if qos:
                info.wait_for_publish(3)
    if c is not None:
        c.disconnect()
        c.loop_stop()


def forgeries(epoch: str, next_seq: int, last_seq: int) -> list[tuple[str, bytes, dict[str, object]]]:
    rt = {"ResponseTopic": f"{BASE}/reply", "CorrelationData": b"x"}
    fake_mac = [("mac", "ab" * 32)]
    out: list[tuple[str, bytes, dict[str, object]]] = []
    # acks: the epoch and last seq are readable from any record; with and without a MAC
    ack = json.dumps({"epoch": epoch, "seq": last_seq}).encode()
    out += [(f"{BASE}/ack", ack, {}), (f"{BASE}/ack", ack, {"UserProperty": fake_mac})]
    # commands: 50 replays from seq 1, a ping
    replay = json.dumps({"epoch": epoch, "from_seq": 1}).encode()
    out += [(f"{BASE}/cmd/replay", replay, rt)] * 50 + [(f"{BASE}/cmd/ping", b"{}", rt)]
    # records with the agent's next seqs, tombstones for the ones after
    for seq in range(next_seq, next_seq + 30):
        body = json.loads(render("scan", {"genuine": False}, agent=AGENT)(seq, epoch))
        out.append((f"{BASE}/scan", json.dumps(body).encode(), {"UserProperty": fake_mac}))
    for seq in range(next_seq + 30, next_seq + 50):
        tomb = [("dropped", "1"), ("epoch", epoch), ("seq", str(seq))]
        out.append((f"{BASE}/telemetry", b"", {"UserProperty": tomb}))
    # a status with a session beyond BIGINT
    status = json.loads(render("status", {"state": "online"}, agent=AGENT)(next_seq + 60, epoch))
    out.append((f"{BASE}/status", json.dumps({**status, "session": 2**63 + 5}).encode(), {}))
    # nested-JSON poison on every topic the agent or the backend subscribes to
    for kind in ("ack", "cmd/replay", "cmd/ping", "scan", "status", "telemetry", "reply", "alert"):
        out.append((f"{BASE}/{kind}", POISON, rt if kind.startswith("cmd/") else {}))
    return out


@contextlib.asynccontextmanager
async def agent(s: Setup, ob: Outbox) -> AsyncIterator[Link]:
    user, pw = s.agent_user or (None, None)
    settings = link_settings(
        s.url,
        client_id=f"baygate-{SHOP}-{AGENT}",
        base_topic=BASE,
        username=user,
        password=pw,
        auth_key=s.key,
        ack_timeout_s=120.0,  # resends here come only from replays
    )
    link = Link(ob, settings, status=status)
    add_replay(link)
    async with running(link.run):
        yield link


def backend(s: Setup, db: Path) -> contextlib.AbstractAsyncContextManager[Ingest]:
    user, pw = s.backend_user or (None, None)
    return ingest(
        s.url,
        db,
        username=user,
        password=pw,
        keys_dir=s.keys_dir,
        rules=Rules(kinds=KINDS),
        client_id="rogue-test-ingest",
        group="rogue",
    )


@pytest.mark.anyio
async def test_every_forgery_is_refused_or_contained(setup: Setup, tmp_path: Path) -> None:
    s, db = setup, tmp_path / "backend.sqlite3"
    scan = f"{BASE}/scan"
    async with Outbox(tmp_path / "outbox.sqlite3") as ob, agent(s, ob) as link:
        await link.wait_connected()
        async with backend(s, db) as ing:
            for _ in range(20):
                await ob.put("scan", scan, genuine("scan"))
            await until(lambda: link.backend_hw >= ob.last_seq, what="first records acked")
        # The backend is down (its persistent session keeps what comes): 20 more rows
        # reach the broker but are not committed, the case a forged ack used to delete.
        for _ in range(20):
            await ob.put("scan", scan, genuine("scan"))
        await until(lambda: link.counters.broker_acks >= ob.last_seq, what="PUBACKs")
        depth_before, hw_before = (await ob.stats()).depth, link.backend_hw
        published_before = link.counters.published
        attack = forgeries(ob.epoch, ob.last_seq + 1, ob.last_seq)
        await asyncio.to_thread(publish_as, s, attack)
        await asyncio.to_thread(publish_as, s, [(f"{BASE}/ack", POISON, {})], retain=True)  # retained poison
        await asyncio.sleep(2.0)
        # the agent deleted nothing, replayed nothing, and is still up
        assert (await ob.stats()).depth >= depth_before
        assert link.counters.published - published_before <= depth_before + 5
        assert link.connected and link.backend_hw == hw_before
        # the backend comes back: it consumes the poison from its session, stores the
        # real rows, and the agent goes on delivering
        async with backend(s, db) as ing:
            await until(lambda: ing.connected, what="backend back")
            flood = [(scan, render("scan", {"genuine": False}, agent=AGENT)(9999, ob.epoch), {})] * 200
            await asyncio.to_thread(publish_as, s, flood, qos=0)  # QoS 0 bypasses Receive Maximum
            for _ in range(20):
                await ob.put("scan", scan, genuine("scan"))
            await until(lambda: link.backend_hw >= ob.last_seq, timeout=60, what="everything acked")
            await asyncio.sleep(1.0)  # anything the broker still held for the ingest arrives
            assert ing.connected
            counters = ing.counters
        epoch, last = ob.epoch, ob.last_seq
        # a new session connects fine after the retained poison ack
        assert link.connected
        bad_acks_seen = link.counters.unauthenticated + link.counters.bad_acks
    rows = [r for r in store_records(db) if r[1] == epoch]
    assert [seq for _a, _e, seq, _k, _p in rows] == list(range(1, last + 1))  # each exactly once
    for _a, _e, _seq, _kind, payload in rows:
        assert payload is None or json.loads(payload)["genuine"] is True  # None: a tombstoned birth
    if s.rogue_user is None:  # no ACL: the MACs did the refusing
        assert counters.unauthenticated >= 30 + 20  # forged records and tombstones
        assert bad_acks_seen >= 2 + 51  # forged acks and commands
        assert counters.qos0_dropped == 200
    else:  # the broker's ACL dropped every forgery before anyone saw it
        assert counters.unauthenticated == 0 and bad_acks_seen == 0
