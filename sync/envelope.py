"""Reading the generic envelope of an incoming record (sans-IO).

The backend does not know the agent's record models (sync imports nothing of ours):
it checks only what delivery needs, the same for every kind — the topic
`baygate/v1/{shop}/{agent}/{kind}` and the JSON fields `shop`, `agent`, `epoch`, `seq`,
`kind` (and `ts` when present, for lag). A tombstone (dropped telemetry) has an empty
payload and carries `dropped=1`, `epoch`, `seq` as MQTT 5 user properties.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sync.errors import BadMessageError

__all__ = [
    "MAX_RECORD_BYTES",
    "TOPIC_ROOT",
    "Incoming",
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


def agent_topic(shop: str, agent: str) -> str:
    """The root of one agent's topics: its records, `status`, `ack`, `cmd/…`."""
    return f"{TOPIC_ROOT}/{shop}/{agent}"


def record_topic(shop: str, agent: str, kind: str) -> str:
    return f"{agent_topic(shop, agent)}/{kind}"


def split_topic(topic: str) -> tuple[str, str, str]:
    """(shop, agent, kind) of `baygate/v1/{shop}/{agent}/{kind}`."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or not all(_ID.match(p) for p in parts[2:]):
        raise BadMessageError(f"topic {topic!r} is not {TOPIC_ROOT}/{{shop}}/{{agent}}/{{kind}}")
    return parts[2], parts[3], parts[4]


def _int_seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadMessageError(f"seq {value!r} is not an integer")
    try:
        seq = int(value)
    except ValueError:
        raise BadMessageError(f"seq {value!r} is not an integer") from None
    if not 1 <= seq < 2**63:
        raise BadMessageError(f"seq {seq} out of range")
    return seq


def _ts(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def parse_incoming(topic: str, payload: bytes, user: Mapping[str, str]) -> Incoming:
    """Check one message; raises BadMessageError saying what is wrong."""
    shop, agent, kind = split_topic(topic)
    historical = user.get("historical") == "1"
    if user.get("dropped") == "1":
        tomb_epoch = user.get("epoch", "")
        if not _EPOCH.match(tomb_epoch):
            raise BadMessageError(f"tombstone on {topic} without a valid epoch")
        return Incoming(shop, agent, tomb_epoch, _int_seq(user.get("seq")), kind, b"", True, historical, None)
    if len(payload) > MAX_RECORD_BYTES:
        raise BadMessageError(f"record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMessageError(f"record on {topic} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadMessageError(f"record on {topic} is not a JSON object")
    for key, want in (("shop", shop), ("agent", agent), ("kind", kind)):
        if body.get(key) != want:
            raise BadMessageError(f"record {key}={body.get(key)!r} does not match its topic {topic}")
    epoch = body.get("epoch")
    if not isinstance(epoch, str) or not _EPOCH.match(epoch):
        raise BadMessageError(f"record on {topic} has no valid epoch")
    state, session = body.get("state"), body.get("session")
    return Incoming(
        shop,
        agent,
        epoch,
        _int_seq(body.get("seq")),
        kind,
        payload,
        False,
        historical,
        _ts(body.get("ts")),
        state if kind == "status" and isinstance(state, str) else None,
        session if kind == "status" and isinstance(session, int) and not isinstance(session, bool) else None,
    )
