"""The shipped broker setup against a real Mosquitto: identities and ACLs hold.

Each check runs a real paho client with some identity and observes what the broker
lets through: CONNACK codes, and whether a message published with one identity
reaches a subscriber with another.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho

from sync.auth import decode_key
from sync.provision import BACKEND_USER, password_hash
from tests.conftest import SecureBroker


def client(sb: SecureBroker, user: str | None, password: str | None) -> tuple[paho.Client, int]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    got: queue.Queue[int] = queue.Queue()
    c.on_connect = lambda _c, _u, _f, rc, _p: got.put(rc.value)
    if user is not None:
        c.username_pw_set(user, password)
    c.connect("127.0.0.1", sb.broker.port)
    c.loop_start()
    return c, got.get(timeout=10)


def collect(c: paho.Client, *topics: str) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()
    c.on_message = lambda _c, _u, m: q.put(m.topic)
    c.subscribe([(t, 1) for t in topics])
    time.sleep(0.3)
    return q


def delivered(q: queue.Queue[str], timeout: float = 1.0) -> list[str]:
    out = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(queue.Empty):
            out.append(q.get(timeout=0.05))
    return out


def test_password_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    # the format mosquitto_passwd itself writes, checked by a broker below; here the
    # shape: $7$<iterations>$<salt b64>$<sha512 b64>
    h = password_hash("pw", b"\x00" * 12)
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[-1]) == 88


def test_anonymous_and_wrong_passwords_are_refused(secure_broker: SecureBroker) -> None:
    for user, pw in ((None, None), (BACKEND_USER, "wrong"), ("s1.a1", "x")):
        c, rc = client(secure_broker, user, pw)
        c.loop_stop()
        assert rc in (0x86, 0x87), (user, rc)  # bad user name or password / not authorized


def test_each_identity_reaches_only_its_own_topics(secure_broker: SecureBroker) -> None:
    sb = secure_broker
    a = sb.add_agent("shop-1", "bay-1")
    b = sb.add_agent("shop-2", "bay-1")
    assert decode_key(a.key_file.read_text()) == a.key
    backend, rc = client(sb, BACKEND_USER, sb.backend_password)
    assert rc == 0
    agent_a, rc_a = client(sb, a.username, a.password)
    agent_b, rc_b = client(sb, b.username, b.password)
    assert rc_a == rc_b == 0
    try:
        seen = collect(backend, "$share/g/baygate/v1/+/+/+")
        a_cmds = collect(agent_a, "baygate/v1/shop-1/bay-1/ack", "baygate/v1/shop-1/bay-1/cmd/+")
        agent_a.publish("baygate/v1/shop-1/bay-1/scan", b"{}", qos=1).wait_for_publish(5)
        agent_b.publish("baygate/v1/shop-2/bay-1/scan", b"{}", qos=1).wait_for_publish(5)
        backend.publish("baygate/v1/shop-1/bay-1/cmd/ping", b"{}", qos=1).wait_for_publish(5)
        # refused: B on A's record, ack and command topics; A commanding itself or
        # publishing two levels down (mosquitto may also drop the offender's connection)
        for who, kind in (
            (agent_b, "scan"),
            (agent_b, "ack"),
            (agent_b, "cmd/replay"),
            (agent_a, "cmd/replay"),
            (agent_a, "status/x"),
        ):
            with contextlib.suppress(RuntimeError, ValueError):
                who.publish(f"baygate/v1/shop-1/bay-1/{kind}", b"{}", qos=1).wait_for_publish(2)
        got_backend = delivered(seen)
        got_a = delivered(a_cmds)
    finally:
        for c in (backend, agent_a, agent_b):
            c.disconnect()
            c.loop_stop()
    assert sorted(got_backend) == ["baygate/v1/shop-1/bay-1/scan", "baygate/v1/shop-2/bay-1/scan"]
    # A hears the backend's command and its own ack write, never B's ack or command
    assert sorted(got_a) == ["baygate/v1/shop-1/bay-1/cmd/ping"]


def test_add_agent_reissues_and_the_cli_prints_loadable_mqtt_lines(tmp_path: Path) -> None:
    import tomllib

    d = tmp_path / "setup"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "agent", "broker", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    r = cli("init", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    again = cli("init", "--dir", str(d))
    assert again.returncode == 1 and "already holds" in again.stderr and "Traceback" not in again.stderr
    out = cli("add-agent", "--dir", str(d), "shop-9", "bay-2")
    assert out.returncode == 0, out.stderr
    mqtt = tomllib.loads(out.stdout)["mqtt"]
    assert mqtt["username"] == "shop-9.bay-2"
    assert bytes.fromhex(mqtt["auth_key"]) == decode_key((d / "keys" / "shop-9" / "bay-2.key").read_text())
    bad = cli("add-agent", "--dir", str(d), "shop/9", "bay-2")
    assert bad.returncode == 1 and "shop id" in bad.stderr and "Traceback" not in bad.stderr
    assert "user shop-9.bay-2" in (d / "acl").read_text()


def test_a_new_agent_works_after_a_reload_without_restart(secure_broker: SecureBroker) -> None:
    ident = secure_broker.add_agent("shop-3", "bay-9")  # add_agent sends SIGHUP
    pid = secure_broker.broker.proc.pid if secure_broker.broker.proc else None
    time.sleep(0.3)
    c, rc = client(secure_broker, ident.username, ident.password)
    c.disconnect()
    c.loop_stop()
    assert rc == 0
    assert secure_broker.broker.proc is not None and secure_broker.broker.proc.pid == pid
