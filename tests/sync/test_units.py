"""Sans-IO parts of sync: envelope checks, the command registry, backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from resilience import Backoff, BackoffPolicy
from sync.commands import CommandArgs, CommandChannel, encode_reply
from sync.envelope import Rules, parse_incoming, split_topic
from sync.errors import BadMessageError, CommandError, LinkError
from sync.link_settings import reconnect_forever
from sync.mqtt import parse_url

TOPIC = "baygate/v1/s1/a1/scan"
GOOD = {
    "shop": "s1",
    "agent": "a1",
    "kind": "scan",
    "epoch": "e-1",
    "seq": 3,
    "ts": "2026-01-01T00:00:00+00:00",
}


def test_a_good_envelope_and_a_tombstone_parse() -> None:
    inc = parse_incoming(TOPIC, json.dumps(GOOD).encode(), {"historical": "1"})
    assert (inc.agent, inc.epoch, inc.seq, inc.kind, inc.historical, inc.dropped) == (
        "a1",
        "e-1",
        3,
        "scan",
        True,
        False,
    )
    assert inc.ts == 1767225600.0
    tomb = parse_incoming("baygate/v1/s1/a1/telemetry", b"", {"dropped": "1", "epoch": "e-1", "seq": "9"})
    assert (tomb.seq, tomb.dropped, tomb.payload) == (9, True, b"")


@pytest.mark.parametrize(
    ("topic", "body", "why"),
    [
        ("baygate/v1/s1/a1", GOOD, "is not baygate/v1"),
        ("other/v1/s1/a1/scan", GOOD, "is not baygate/v1"),
        (TOPIC, {**GOOD, "seq": 0}, "out of range"),
        (TOPIC, {**GOOD, "seq": True}, "not an integer"),
        (TOPIC, {**GOOD, "shop": "s2"}, "does not match"),
        (TOPIC, {**GOOD, "epoch": "bad epoch!"}, "no valid epoch"),
    ],
)
def test_bad_envelopes_say_why(topic: str, body: dict[str, object], why: str) -> None:
    with pytest.raises(BadMessageError, match=why):
        parse_incoming(topic, json.dumps(body).encode(), {})


@given(
    topic=st.text(max_size=60),
    payload=st.binary(max_size=300),
    user=st.dictionaries(st.sampled_from(["dropped", "epoch", "seq", "historical"]), st.text(max_size=20)),
)
def test_no_input_crashes_the_envelope_parser(topic: str, payload: bytes, user: dict[str, str]) -> None:
    # anything but BadMessageError (ValueError, KeyError, ...) fails the test
    with contextlib.suppress(BadMessageError):
        parse_incoming(topic, payload, user)


TELEMETRY = "baygate/v1/s1/a1/telemetry"
RULES = Rules(kinds=frozenset({"scan", "status", "telemetry"}))
STATUS = {**GOOD, "kind": "status", "state": "online", "session": 3}


@pytest.mark.parametrize(
    ("topic", "payload", "user", "why"),
    [
        # issue 10: unknown kinds, string seqs and tombstones on any kind were stored
        ("baygate/v1/s1/a1/bogus", {**GOOD, "kind": "bogus"}, {}, "not a record kind"),
        (TOPIC, {**GOOD, "seq": "3"}, {}, "not an integer"),
        (TOPIC, {**GOOD, "seq": 2**63}, {}, "out of range"),
        (TOPIC, b"", {"dropped": "1", "epoch": "e-1", "seq": "4"}, "never dropped"),
        (TELEMETRY, b"", {"dropped": "1", "epoch": "e-1", "seq": "-4"}, "not an integer"),
        (TELEMETRY, b"", {"dropped": "1", "epoch": "e-1", "seq": "9" * 30}, "not an integer"),
        (TELEMETRY, b"{}", {"dropped": "1", "epoch": "e-1", "seq": "4"}, "with a payload"),
        # issue 10: session 2^63+5 raised OverflowError in the store and stopped the ingest
        ("baygate/v1/s1/a1/status", {**STATUS, "session": 2**63 + 5}, {}, "out of range"),
        ("baygate/v1/s1/a1/status", {**STATUS, "session": "1"}, {}, "not an integer"),
        ("baygate/v1/s1/a1/status", {**STATUS, "state": "zombie"}, {}, "no valid state"),
        # issue 10: ~1,000 levels raised RecursionError, which nothing caught
        (TOPIC, b"[" * 1000 + b"]" * 1000, {}, "nested deeper"),
        (TOPIC, b'{"a":' * 5000 + b"1" + b"}" * 5000, {}, "nested deeper"),
    ],
)
def test_the_rules_refuse_what_the_agent_never_sends(
    topic: str, payload: dict[str, object] | bytes, user: dict[str, str], why: str
) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(BadMessageError, match=why):
        parse_incoming(topic, raw, user, RULES)


def test_the_rules_accept_a_status_and_both_tombstone_kinds() -> None:
    st = parse_incoming("baygate/v1/s1/a1/status", json.dumps(STATUS).encode(), {}, RULES)
    assert (st.state, st.session) == ("online", 3)
    for kind in ("telemetry", "status"):
        user = {"dropped": "1", "epoch": "e", "seq": "7"}
        tomb = parse_incoming(f"baygate/v1/s1/a1/{kind}", b"", user, RULES)
        assert tomb.dropped and tomb.seq == 7


def test_a_record_the_broker_rejected_is_a_tombstone_of_its_own_kind() -> None:
    """An oversized scan goes out as a tombstone with `reason=rejected` (sync/link.py):
    accepted on any of the agent's kinds, so the high-water mark moves past it; a scan
    tombstone without that reason, or of a kind the agent has not, is still refused."""
    user = {"dropped": "1", "epoch": "e", "seq": "9", "reason": "rejected"}
    tomb = parse_incoming("baygate/v1/s1/a1/scan", b"", user, RULES)
    assert tomb.dropped and tomb.seq == 9 and tomb.kind == "scan"
    with pytest.raises(BadMessageError, match="never dropped"):
        parse_incoming("baygate/v1/s1/a1/scan", b"", {**user, "reason": "shed"}, RULES)
    with pytest.raises(BadMessageError):
        parse_incoming("baygate/v1/s1/a1/nonsense", b"", user, RULES)


def test_split_topic_rejects_wildcards_and_empty_levels() -> None:
    for bad in ("baygate/v1/+/a/scan", "baygate/v1//a/scan", "baygate/v1/s/a/scan/x"):
        with pytest.raises(BadMessageError):
            split_topic(bad)


class Args(CommandArgs):
    n: int = Field(ge=1)


@pytest.mark.anyio
async def test_channel_runs_only_allow_listed_names_with_valid_args() -> None:
    ran: list[int] = []

    async def handler(args: Args) -> dict[str, int]:
        ran.append(args.n)
        return {"n": args.n}

    async def broken(args: Args) -> dict[str, int]:
        raise RuntimeError("boom")

    ch = CommandChannel()
    ch.register("go", Args, handler)
    ch.register("broken", Args, broken)
    with pytest.raises(CommandError):
        ch.register("go", Args, handler)
    assert (await ch.handle("go", b'{"n": 2}')).result == {"n": 2}
    for name, payload in [
        ("nope", b"{}"),
        ("go", b'{"n": 0}'),
        ("go", b'{"n": 1, "x": 1}'),
        ("go", b"[1]"),
        ("go", b"\xff"),
        ("go", b"x" * 70_000),
        ("go", b'{"n": ' + b"[" * 5000 + b"]" * 5000 + b"}"),  # issue 10: RecursionError
        ("go", b'{"n": 1e999}'),
    ]:
        reply = await ch.handle(name, payload)
        assert not reply.ok and reply.error
    assert ran == [2]
    assert ch.refused == 8
    bad = await ch.handle("broken", b'{"n": 1}')
    assert not bad.ok and "boom" in (bad.error or "") and ch.failed == 1
    assert json.loads(encode_reply(bad)) == {"ok": False, "error": bad.error}


@pytest.mark.anyio
async def test_reconnect_forever_backs_off_a_peer_that_accepts_and_drops() -> None:
    # A broker that accepts and drops at once (or a connect that fails) must see
    # growing waits; only a connection that stayed up healthy_after_s resets them.
    now = [0.0]
    policy = BackoffPolicy(first_s=0.5, cap_s=4.0, jitter=0.0, healthy_after_s=30)
    backoff = Backoff(policy, clock=lambda: now[0])
    slept: list[float] = []
    errors: list[Exception] = []
    runs = 0

    async def session() -> None:
        nonlocal runs
        runs += 1
        if runs == 7:
            raise asyncio.CancelledError  # end the test
        if runs % 2:
            backoff.up()  # connected ... and dropped right away (a clean end)
            now[0] += 0.1
            return
        raise LinkError("connection refused")

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    with pytest.raises(asyncio.CancelledError):
        await reconnect_forever(session, errors.append, backoff, sleep)
    assert slept == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(errors) == 3


def test_urls() -> None:
    assert parse_url("mqtts://b.example").port == 8883
    assert parse_url("mqtt://127.0.0.1:1999/").port == 1999
    with pytest.raises(LinkError, match="bad MQTT URL"):
        parse_url("http://x")


@pytest.mark.anyio
async def test_a_full_command_queue_answers_busy_and_runs_the_rest_in_order() -> None:
    from sync.commands import QUEUE, Reply

    class Args(CommandArgs):
        n: int

    gate, done = asyncio.Event(), asyncio.Event()
    ran: list[int] = []

    async def slow(args: Args) -> dict[str, int]:
        await gate.wait()
        ran.append(args.n)
        if len(ran) == QUEUE:
            done.set()
        return {}

    ch = CommandChannel()
    ch.register("slow", Args, slow)
    replies: list[tuple[str, bytes | None, Reply]] = []

    def respond(topic: str, corr: bytes | None, reply: Reply) -> None:
        replies.append((topic, corr, reply))

    for n in range(QUEUE + 2):
        ch.offer("slow", json.dumps({"n": n}).encode(), "rt", bytes([n]), respond)
    ch.offer("slow", b'{"n": 99}', None, None, respond)  # full, and nobody to tell
    busy = [(c, r.error) for _t, c, r in replies]
    assert busy == [(bytes([QUEUE]), "busy: too many commands queued"), (bytes([QUEUE + 1]), busy[1][1])]
    server = asyncio.create_task(ch.serve(respond))
    gate.set()
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0)  # the last reply
    server.cancel()
    assert ran == list(range(QUEUE))
    assert [c for _t, c, r in replies[2:]] == [bytes([n]) for n in range(QUEUE)]


def test_backend_acks_are_parsed_strictly() -> None:
    from sync.ack import encode_ack, parse_ack

    assert parse_ack(encode_ack("e1", 7), epoch="e1", last_seq=9) == 7
    assert parse_ack(encode_ack("old", 7), epoch="e1", last_seq=9) is None  # a wiped outbox's
    poison = [
        b"[" * 5000 + b"]" * 5000,  # issue 10: RecursionError stopped every agent start
        b'{"epoch": "e1", "seq": 9223372036854775813}',
        b'{"epoch": "e1", "seq": "7"}',
        b'{"epoch": "e1", "seq": 7.0}',
        b'{"epoch": "e1", "seq": true}',
        b'{"epoch": "e1", "seq": 7, "pad": "' + b"x" * 2000 + b'"}',
    ]
    bad = [b"\xff", b"[]", b'{"epoch": 1}', b'{"epoch": "e1", "seq": -1}', encode_ack("e1", 10)]
    for raw in (*bad, *poison):
        with pytest.raises(BadMessageError):
            parse_ack(raw, epoch="e1", last_seq=9)


def test_hand_packed_user_properties_are_the_bytes_paho_packs() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from sync.mqtt import PackedProperties, pack_user_properties

    cases = [
        [("mac", "ab" * 32)],
        [("historical", "1"), ("dropped", "1"), ("epoch", "e-1"), ("seq", "9"), ("mac", "f" * 64)],
        [("k", "é" * 200)] * 3,  # multi-byte text, a length over 127 (two-byte varint)
    ]
    for user in cases:
        paho_props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        paho_props.UserProperty = user
        assert pack_user_properties(user) == PackedProperties(user).pack() == paho_props.pack()  # type: ignore[no-untyped-call]
