"""Reading the generic envelope of an incoming record (sans-IO).

The backend does not know the agent's record models (sync imports nothing of ours):
it checks only what delivery needs, the same for every kind — the topic
`baygate/v1/{shop}/{agent}/{kind}` and the JSON fields `shop`, `agent`, `epoch`, `seq`,
`kind` (and `ts` when present, for lag). A tombstone (dropped telemetry) has an empty
payload and carries `dropped=1`, `epoch`, `seq` as MQTT 5 user properties.

Every record is untrusted input: parsed through the bounded parser (size, depth,
number range), and checked against `Rules` the backend is given (the agent's record
kinds, the kinds that may be tombstoned: sync cannot import the agent's models). seq
is a JSON integer in [1, 2^63) (a tombstone's comes as a user property string), a
status record's session an integer in [0, 2^63), so no value can overflow a BIGINT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sync.errors import BadMessageError
from untrusted import UntrustedInputError, bounded_int, parse_object

__all__ = [
    "MAX_RECORD_BYTES",
    "TOPIC_ROOT",
    "AgentTopics",
    "Incoming",
    "Rules",
    "agent_topic",
    "parse_incoming",
    "record_topic",
    "split_topic",
]

TOPIC_ROOT = "baygate/v1"
MAX_RECORD_BYTES = 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EPOCH = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Rules:
    """What the ingest accepts. None = any well-formed kind (tests of sync alone)."""

    kinds: frozenset[str] | None = None
    # Only what the agent really tombstones: dropped telemetry, and a status birth
    # whose connection never came up (sync/link.py). Plus, of any kind, a record the
    # broker refused as too large: `reason=rejected` (covered by the MAC).
    tombstone_kinds: frozenset[str] = frozenset({"telemetry", "status"})


OPEN_RULES = Rules()


@dataclass(frozen=True)
class Incoming:
    shop: str
    agent: str
    epoch: str
    seq: int
    kind: str
    payload: bytes  # b"" for a tombstone
    dropped: bool
    historical: bool
    ts: float | None  # the record's own timestamp (epoch seconds), for lag
    state: str | None = None  # status records: online/offline
    session: int | None = None  # status records: connection counter
    # status records: every seq <= this was acked by a backend and deleted by the
    # agent; below its own seq (validated), else None
    acked_through: int | None = None


def agent_topic(shop: str, agent: str) -> str:
    """The root of one agent's topics: its records, `status`, `ack`, `cmd/…`."""
    return f"{TOPIC_ROOT}/{shop}/{agent}"


@dataclass(frozen=True)
class AgentTopics:
    """Every topic of one agent, spelled here only (the broker ACLs in
    sync/provision.py are written from the same names)."""

    base: str  # agent_topic(shop, agent)

    @classmethod
    def of(cls, shop: str, agent: str) -> AgentTopics:
        return cls(agent_topic(shop, agent))

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def ack(self) -> str:
        """The backend's retained acknowledgement (sync/ack.py)."""
        return f"{self.base}/ack"

    @property
    def reply(self) -> str:
        """Where the agent answers commands (inside its own tree: its ACL allows it)."""
        return f"{self.base}/reply"

    @property
    def cmd_prefix(self) -> str:
        return f"{self.base}/cmd/"

    def command(self, name: str) -> str:
        return self.cmd_prefix + name


def record_topic(shop: str, agent: str, kind: str) -> str:
    return f"{agent_topic(shop, agent)}/{kind}"


def split_topic(topic: str) -> tuple[str, str, str]:
    """(shop, agent, kind) of `baygate/v1/{shop}/{agent}/{kind}`."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or not all(_ID.match(p) for p in parts[2:]):
        raise BadMessageError(f"topic {topic!r} is not {TOPIC_ROOT}/{{shop}}/{{agent}}/{{kind}}")
    return parts[2], parts[3], parts[4]


_SEQ_TEXT = re.compile(r"^[1-9][0-9]{0,18}$")


def _int_seq(value: object) -> int:
    """A record's seq: a JSON integer in [1, 2^63)."""
    try:
        return bounded_int(value, lo=1, hi=2**63 - 1, what="seq")
    except UntrustedInputError as exc:
        raise BadMessageError(str(exc)) from None


def _text_seq(value: str | None) -> int:
    """A tombstone's seq (a user property: always text)."""
    if value is None or not _SEQ_TEXT.match(value):
        raise BadMessageError(f"tombstone seq {str(value)[:24]!r} is not an integer")
    return _int_seq(int(value))


def _ts(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def parse_incoming(
    topic: str, payload: bytes, user: Mapping[str, str], rules: Rules = OPEN_RULES
) -> Incoming:
    """Check one message; raises BadMessageError saying what is wrong."""
    shop, agent, kind = split_topic(topic)
    if rules.kinds is not None and kind not in rules.kinds:
        raise BadMessageError(f"kind {kind!r} on {topic} is not a record kind")
    historical = user.get("historical") == "1"
    if user.get("dropped") == "1":
        # A record the broker would not take (over its Maximum Packet Size) goes out
        # as a tombstone of its own kind, `reason=rejected` (docs/records.md), so the
        # high-water mark moves past it; anything else only where the agent sheds.
        rejected = user.get("reason") == "rejected" and (rules.kinds is None or kind in rules.kinds)
        if kind not in rules.tombstone_kinds and not rejected:
            raise BadMessageError(f"tombstone on {topic}: {kind} records are never dropped")
        if payload:
            raise BadMessageError(f"tombstone on {topic} with a payload")
        tomb_epoch = user.get("epoch", "")
        if not _EPOCH.match(tomb_epoch):
            raise BadMessageError(f"tombstone on {topic} without a valid epoch")
        seq = _text_seq(user.get("seq"))
        return Incoming(shop, agent, tomb_epoch, seq, kind, b"", True, historical, None)
    try:
        body = parse_object(payload, max_bytes=MAX_RECORD_BYTES, what=f"record on {topic}")
    except UntrustedInputError as exc:
        raise BadMessageError(str(exc)) from None
    for key, want in (("shop", shop), ("agent", agent), ("kind", kind)):
        if body.get(key) != want:
            raise BadMessageError(f"record {key}={body.get(key)!r} does not match its topic {topic}")
    epoch = body.get("epoch")
    if not isinstance(epoch, str) or not _EPOCH.match(epoch):
        raise BadMessageError(f"record on {topic} has no valid epoch")
    state, session = body.get("state"), body.get("session")
    seq = _int_seq(body.get("seq"))
    acked_through: int | None = None
    if kind == "status":
        if state not in ("online", "offline"):
            raise BadMessageError(f"status on {topic} has no valid state")
        try:
            session = bounded_int(session, lo=0, hi=2**63 - 1, what="session")
            if body.get("acked_through") is not None:
                # The birth is committed after every row it speaks of: below its seq.
                acked_through = bounded_int(body["acked_through"], lo=0, hi=seq - 1, what="acked_through")
        except UntrustedInputError as exc:
            raise BadMessageError(f"status on {topic}: {exc}") from None
    return Incoming(
        shop,
        agent,
        epoch,
        seq,
        kind,
        payload,
        False,
        historical,
        _ts(body.get("ts")),
        state if kind == "status" and isinstance(state, str) else None,
        session if kind == "status" and isinstance(session, int) and not isinstance(session, bool) else None,
        acked_through,
    )
