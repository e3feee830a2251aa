"""sync/auth.py and sync/replay.py: what a MAC binds, and how replays coalesce."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.auth import MAC_PROPERTY, decode_key, encode_key, new_key, sign, verify
from sync.errors import AuthKeyError
from sync.keyring import KeyRing
from sync.replay import ReplayGate

T = "baygate/v1/s1/a1/ack"


def props(key: bytes, topic: str, payload: bytes, **user: str) -> dict[str, str]:
    return {**user, MAC_PROPERTY: sign(key, topic, payload, user)}


def test_a_mac_binds_key_topic_payload_and_meaningful_properties() -> None:
    k, other = new_key(), new_key()
    p = props(k, T, b'{"epoch":"e","seq":5}')
    assert verify(k, T, b'{"epoch":"e","seq":5}', p)
    assert not verify(other, T, b'{"epoch":"e","seq":5}', p)  # another agent's key
    assert not verify(k, "baygate/v1/s1/a2/ack", b'{"epoch":"e","seq":5}', p)  # another agent's topic
    assert not verify(k, T, b'{"epoch":"e","seq":6}', p)  # another payload
    tomb = props(k, "baygate/v1/s1/a1/telemetry", b"", dropped="1", epoch="e", seq="9")
    assert verify(k, "baygate/v1/s1/a1/telemetry", b"", tomb)
    assert not verify(k, "baygate/v1/s1/a1/telemetry", b"", {**tomb, "seq": "10"})  # moved tombstone
    cmd = props(k, "baygate/v1/s1/a1/cmd/replay", b"{}", rt="baygate/v1/s1/a1/reply")
    assert not verify(k, "baygate/v1/s1/a1/cmd/replay", b"{}", {**cmd, "rt": "evil/reply"})  # redirected
    assert verify(k, T, b"x", {**props(k, T, b"x"), "historical": "1"})  # a resend label is not covered
    for bad in ({}, {MAC_PROPERTY: ""}, {MAC_PROPERTY: "00" * 32}, {MAC_PROPERTY: "zz" * 40}):
        assert not verify(k, T, b"x", bad)


def test_keys_are_64_hex_digits_and_errors_never_show_them() -> None:
    k = new_key()
    assert decode_key(encode_key(k)) == k
    for bad in ("", "abc", "00" * 31, "g" * 64, "00" * 33):
        with pytest.raises(AuthKeyError) as e:
            decode_key(bad, "mqtt.auth_key")
        assert not bad or bad not in str(e.value)


def test_the_key_ring_finds_new_agents_and_remembers_misses(tmp_path: Path) -> None:
    root = tmp_path
    now = [0.0]
    ring = KeyRing(root, miss_ttl_s=10.0, clock=lambda: now[0])
    assert ring.key("s1", "a1") is None
    (root / "s1").mkdir()
    k = new_key()
    (root / "s1" / "a1.key").write_text(encode_key(k))
    assert ring.key("s1", "a1") is None  # the miss is remembered for 10 s
    now[0] = 11.0
    assert ring.key("s1", "a1") == k
    assert ring.key("..", "a1") is None and ring.key("s1", "../a1") is None  # no path tricks


def test_replays_within_a_window_coalesce_to_the_lowest_seq() -> None:
    now = [100.0]
    gate = ReplayGate(5.0, clock=lambda: now[0])
    assert gate.request(50).run_now
    decisions = [gate.request(s) for s in (40, 60, 45)]
    assert not any(d.run_now for d in decisions) and decisions[-1].from_seq == 40
    assert gate.due() is None  # the window is not over
    now[0] = 105.0
    assert gate.due() == 40 and gate.due() is None
    assert not gate.request(1).run_now  # the coalesced run opened a new window
