"""The link against a real Mosquitto: acks, refusals, TLS, oversize, outages."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from sync.errors import AuthRefusedError, LinkError, TlsError
from sync.link import Link
from sync.mqtt import TlsFiles, make_client
from sync.outbox import Outbox
from tests.support.broker import Broker
from tests.support.sync import (
    BASE,
    agent_side,
    ingest,
    link_settings,
    make_broker,
    render,
    running,
    status_render,
    store_records,
    subscriber,
    until,
)
from tests.support.tls import make_pki

SCAN = BASE + "/scan"


def publish(url: str, topic: str, payload: bytes, retain: bool = False) -> None:
    """One QoS 1 publish from a plain client (the 'backend' sending us garbage)."""
    port = int(url.rsplit(":", 1)[1])
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


@pytest.mark.anyio
async def test_malformed_backend_acks_are_ignored_and_nothing_is_deleted(
    broker: Broker, tmp_path: Path
) -> None:
    async with subscriber(broker.url, BASE + "/+"), agent_side(tmp_path, broker.url) as (ob, link):
        await link.wait_connected()
        for _ in range(5):
            await ob.put("scan", SCAN, render("scan"))
        await until(lambda: link.counters.broker_acks >= 6, what="pubacks")
        garbage = [
            b"\xff\xfe",
            b"[]",
            b'{"epoch": 1}',
            b'{"epoch": "x", "seq": -1}',
            json.dumps({"epoch": ob.epoch, "seq": 10_000}).encode(),
        ]
        for i, g in enumerate(garbage, 1):  # one at a time: only the latest ack matters
            publish(broker.url, BASE + "/ack", g)
            await until(lambda i=i: link.counters.bad_acks >= i, what=f"bad ack {g!r} counted")
        publish(broker.url, BASE + "/ack", json.dumps({"epoch": "some-older-db", "seq": 3}).encode())
        await asyncio.sleep(0.2)
        assert (await ob.stats()).depth == 6  # nothing deleted, link still up
        assert link.connected
        publish(broker.url, BASE + "/ack", json.dumps({"epoch": ob.epoch, "seq": 4}).encode())
        await until(lambda: link.backend_hw == 4, what="valid ack")
        await until(lambda: ob.last_seq - 4 == 2, what="depth")  # 5 and 6 remain
        assert sorted(await ob.held_seqs()) == [5, 6]


@pytest.mark.anyio
async def test_nothing_is_handed_to_paho_while_the_broker_is_down(
    sync_broker: Broker, tmp_path: Path
) -> None:
    async with (
        ingest(sync_broker.url, tmp_path / "b.sqlite3") as ing,
        agent_side(tmp_path, sync_broker.url) as (
            ob,
            link,
        ),
    ):
        await link.wait_connected()
        sync_broker.kill()
        await until(lambda: not link.connected, what="link down")
        published = link.counters.published
        seqs = [await ob.put("scan", SCAN, render("scan")) for _ in range(20)]
        await asyncio.sleep(0.3)
        assert link.counters.published == published  # no offline queue in paho
        sync_broker.start()
        await until(lambda: link.backend_hw >= seqs[-1], what="delivery after outage")
        got = store_records(tmp_path / "b.sqlite3")
        assert {s for _a, _e, s, _k, _p in got} >= set(seqs)
        assert ing.counters.inserted == len(got)


@pytest.mark.anyio
async def test_a_frozen_broker_holds_at_most_one_window_of_unacked_rows(
    sync_broker: Broker, tmp_path: Path
) -> None:
    # paho's own in-flight limit is off (it rescans its table on every PUBACK), so
    # the link's window is all that bounds what paho holds in RAM. SIGSTOP freezes
    # the broker with the TCP connection open: no PUBACK comes back, nothing drops.
    async with (
        ingest(sync_broker.url, tmp_path / "b.sqlite3"),
        agent_side(tmp_path, sync_broker.url, inflight=8) as (ob, link),
    ):
        await link.wait_connected()
        await until(lambda: link.counters.broker_acks >= 1, what="birth acked")
        before = link.counters.published
        with sync_broker.frozen():
            seqs = [await ob.put("scan", SCAN, render("scan")) for _ in range(40)]
            await until(lambda: link.counters.published - before >= 8, what="one window handed out")
            await asyncio.sleep(0.3)
            assert link.counters.published - before == 8
        await until(lambda: link.backend_hw >= seqs[-1], what="the rest after the thaw")
        assert link.counters.published - before == 40


@pytest.mark.anyio
async def test_a_silent_broker_is_noticed_by_keepalive_and_the_link_recovers(
    sync_broker: Broker, tmp_path: Path
) -> None:
    # A half-open connection (Wi-Fi gone, broker frozen): TCP says nothing, only the
    # MQTT keepalive (PINGREQ without PINGRESP) can tell. paho's loop_misc runs on
    # our event loop once a second (sync/paho_loop.py), so this is ours to keep working.
    async with (
        ingest(sync_broker.url, tmp_path / "b.sqlite3"),
        agent_side(tmp_path, sync_broker.url, keepalive_s=1) as (ob, link),
    ):
        await link.wait_connected()
        connects = link.counters.connects
        with sync_broker.frozen():
            await until(lambda: not link.connected, timeout=10, what="keepalive timeout noticed")
            seq = await ob.put("scan", SCAN, render("scan"))  # taken while offline
        await until(lambda: link.backend_hw >= seq, timeout=20, what="delivery after recovery")
        assert link.counters.connects > connects


def test_client_sockets_disable_nagle(broker: Broker) -> None:
    # With Nagle, a window's last publish or PUBACK waits for a 40 ms delayed ACK:
    # measured 2,900 vs 9,300 msg/s end to end.
    client = make_client("nodelay-test")
    client.connect("127.0.0.1", broker.port)
    try:
        sock = client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.disconnect()


@pytest.mark.anyio
async def test_records_sent_after_an_outage_are_flagged_historical(
    sync_broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "b.sqlite3"
    async with ingest(sync_broker.url, db), agent_side(tmp_path, sync_broker.url) as (ob, link):
        await link.wait_connected()
        live = await ob.put("scan", SCAN, render("scan"))
        await until(lambda: link.backend_hw >= live, what="live record")
        sync_broker.kill()
        await until(lambda: not link.connected, what="link down")
        late = await ob.put("scan", SCAN, render("scan"))
        sync_broker.start()
        await until(lambda: link.backend_hw >= late, what="late record")
    import sqlite3

    con = sqlite3.connect(db)
    flags = dict(con.execute("SELECT seq, historical FROM records WHERE kind='scan'").fetchall())
    con.close()
    assert flags == {live: 0, late: 1}


@pytest.mark.anyio
async def test_bad_credentials_are_a_clear_error_and_nothing_is_lost(tmp_path: Path) -> None:
    pw = tmp_path / "passwd"
    pw.write_text("")
    cmd = ["mosquitto_passwd", "-b", str(pw), "bay", "right"]
    await asyncio.to_thread(subprocess.run, cmd, check=True, capture_output=True)
    b = make_broker(tmp_path / "m", extra=f"allow_anonymous false\npassword_file {pw}")
    b.start()
    try:
        async with agent_side(tmp_path / "a", b.url, username="bay", password="wrong") as (ob, link):
            await ob.put("scan", SCAN, render("scan"))
            await until(lambda: isinstance(link.last_error, AuthRefusedError), what="auth refusal")
            assert link.last_error.code in (0x86, 0x87)  # bad user name or password / not authorized
            assert "refused the connection" in str(link.last_error)
            assert link.counters.errors["AuthRefusedError"] >= 1
        async with (
            ingest(b.url, tmp_path / "b.sqlite3", username="bay", password="right"),
            agent_side(tmp_path / "a", b.url, username="bay", password="right") as (ob, link),
        ):
            await until(lambda: link.backend_hw >= 2, what="delivery with the right password")
        kinds = [k for _a, _e, _s, k, p in store_records(tmp_path / "b.sqlite3") if p]
        assert "scan" in kinds
    finally:
        b.stop()


@pytest.mark.anyio
async def test_tls_with_client_certs_and_a_wrong_ca_is_refused_clearly(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    conf = f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\nrequire_certificate true"
    b = make_broker(tmp_path / "m", extra=conf)
    b.start()
    url = f"mqtts://127.0.0.1:{b.port}"
    try:
        wrong = TlsFiles(ca_file=pki.other_ca, cert_file=pki.client_cert, key_file=pki.client_key)
        async with agent_side(tmp_path / "a", url, tls=wrong) as (ob, link):
            await ob.put("scan", SCAN, render("scan"))
            await until(lambda: isinstance(link.last_error, TlsError), what="TLS refusal")
            assert "TLS handshake" in str(link.last_error)
        right = TlsFiles(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
        async with (
            ingest(url, tmp_path / "b.sqlite3", tls=right, client_id="ing"),
            agent_side(tmp_path / "a", url, tls=right) as (ob, link),
        ):
            # Hundreds, not two: TLS records carry several MQTT packets, and what the
            # TLS layer has already decrypted never shows as readable on the socket.
            for _ in range(20):
                await asyncio.gather(*(ob.put("scan", SCAN, render("scan")) for _ in range(50)))
            await until(lambda: link.backend_hw >= ob.last_seq, what="delivery over TLS")
    finally:
        b.stop()


@pytest.mark.anyio
async def test_tls_files_resolve_under_credentials_directory(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    async with agent_side(
        tmp_path, broker.url.replace("mqtt:", "mqtts:"), tls=TlsFiles(ca_file=Path("missing-ca.pem"))
    ) as (_ob, link):
        await until(lambda: isinstance(link.last_error, TlsError), what="missing CA error")
        assert str(tmp_path / "missing-ca.pem") in str(link.last_error)


@pytest.mark.anyio
async def test_unreachable_broker_is_a_link_error_with_backoff(tmp_path: Path, port: int) -> None:
    async with agent_side(tmp_path, f"mqtt://127.0.0.1:{port}") as (ob, link):
        await ob.put("scan", SCAN, render("scan"))
        await until(lambda: link.counters.errors.get("LinkError", 0) >= 2, what="retries")
        assert isinstance(link.last_error, LinkError) and "cannot reach broker" in str(link.last_error)
        assert (await ob.stats()).pending >= 1


@pytest.mark.anyio
async def test_a_row_over_the_brokers_packet_limit_is_rejected_and_never_stalls_the_rest(
    tmp_path: Path,
) -> None:
    """Mosquitto with `max_packet_size 4096` (announced in CONNACK): the big record
    is taken out of the flow durably (payload kept, alert callback, counter), its seq
    reaches the backend as a tombstone, and the backend's ack moves past it."""
    b = make_broker(tmp_path / "m", extra="max_packet_size 4096")
    b.start()
    reported: list[tuple[int, str, int, int]] = []

    async def on_rejected(seq: int, topic: str, size: int, limit: int) -> None:
        reported.append((seq, topic, size, limit))

    db = tmp_path / "b.sqlite3"
    try:
        async with ingest(b.url, db), Outbox(tmp_path / "outbox.sqlite3") as ob:
            link = Link(ob, link_settings(b.url), status=status_render, on_rejected=on_rejected)
            async with running(link.run):
                await link.wait_connected()
                small1 = await ob.put("scan", SCAN, render("scan"))
                big = await ob.put("scan", SCAN, render("scan", {"payload": "x" * 8000}))
                small2 = await ob.put("scan", SCAN, render("scan"))
                await until(lambda: link.backend_hw >= small2, what="the ack to move past the big row")
                assert small1 < big < small2
                assert link.connected and link.counters.oversize == 1
                assert reported and reported[0][0] == big and reported[0][3] == 4096
                assert (await ob.stats()).rejected == 1
                (kept,) = await ob.rejected()
                assert kept.seq == big and b"x" * 8000 in kept.payload  # nothing silently lost
                for _ in range(250):  # the delete follows the ack
                    if big not in await ob.held_seqs():
                        break
                    await asyncio.sleep(0.02)
                assert big not in await ob.held_seqs()  # the tombstone was acked
        rows = {s: (k, p) for _a, _e, s, k, p in store_records(db)}
        assert rows[big] == ("scan", None)  # a declared gap at the backend
        assert rows[small2][1] is not None
    finally:
        b.stop()


@pytest.mark.anyio
async def test_the_brokers_receive_maximum_bounds_the_window(tmp_path: Path) -> None:
    """Mosquitto with `max_inflight_messages 5` announces Receive Maximum 5: with our
    own window at 100 the link must still keep at most 5 unacked, or the broker
    refuses the excess (PUBACK 0x97) and they wait for the next connection."""
    b = make_broker(tmp_path / "m", extra="max_inflight_messages 5")
    b.start()
    db = tmp_path / "b.sqlite3"
    try:
        async with ingest(b.url, db), agent_side(tmp_path, b.url, inflight=100) as (ob, link):
            await link.wait_connected()
            seqs = [await ob.put("scan", SCAN, render("scan")) for _ in range(300)]
            await until(lambda: link.backend_hw >= seqs[-1], what="everything acked")
            assert 1 <= link.counters.peak_inflight <= 5
            assert link.counters.refused_pubacks == 0
            assert link.counters.connects == 1
    finally:
        b.stop()


@pytest.mark.anyio
async def test_retention_mode_deletes_broker_acked_rows_without_backend(
    broker: Broker, tmp_path: Path
) -> None:
    async with (
        subscriber(broker.url, BASE + "/+"),
        agent_side(tmp_path, broker.url, ack_retention_s=0.2) as (ob, link),
    ):
        for _ in range(3):
            await ob.put("scan", SCAN, render("scan"))
        await until(lambda: link.counters.broker_acks >= 4, what="pubacks", timeout=30)
        await until(lambda: ob.last_seq >= 4 and link.connected, what="up")

        async def empty() -> bool:
            return (await ob.stats()).depth == 0

        for _ in range(200):
            if await empty():
                break
            await asyncio.sleep(0.05)
        assert await empty()
