"""End-to-end authentication of what crosses the broker (sans-IO).

The broker's ACLs are the first wall, not the only one (docs/design.md "Trust boundary"):
anything that releases or changes durable data must prove it comes from the other
end, whatever the broker lets through. Each agent has a 32-byte key, provisioned with
its broker identity (`baygate broker add-agent`) and known to the backend through its
key directory. Both directions carry an HMAC-SHA256 in the MQTT 5 user property `mac`:

- backend -> agent: acks (which delete outbox rows) and commands (replay resends);
- agent -> backend: records and tombstones (which move the high-water mark).

What the MAC covers: a domain label, the topic (so a message signed for one agent,
kind or command is worthless on another topic), the user properties that carry
meaning (`dropped`, `epoch`, `seq` of a tombstone; the response topic of a command,
so a captured command cannot be redirected), and the payload. `historical` is not
covered: it only labels a resend. Replaying a captured message does no harm: an ack
names its outbox database (epoch) and a seq the backend really committed in it, so
it can only delete rows already safe, and never in another epoch; a replayed record
is a duplicate the ingest drops; a replayed replay command is coalesced and bounded
(sync/replay.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

from sync.errors import AuthKeyError

__all__ = [
    "KEY_BYTES",
    "MAC_PROPERTY",
    "SIGNED_PROPERTIES",
    "decode_key",
    "encode_key",
    "new_key",
    "sign",
    "verify",
]

KEY_BYTES = 32
MAC_PROPERTY = "mac"
# User properties whose values the MAC covers; "rt" is the command's response topic,
# "reason" a tombstone's (rejected: the broker would not take the record).
SIGNED_PROPERTIES = ("dropped", "epoch", "seq", "rt", "reason")
_LABEL = b"baygate-mac-v1"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The key file's text: 64 hex digits and a newline."""
    return key.hex() + "\n"


def decode_key(text: str, where: str = "key") -> bytes:
    """A key file's text -> 32 bytes; AuthKeyError (never showing the text) otherwise."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise AuthKeyError(f"{where} is not {KEY_BYTES * 2} hex digits") from None
    if len(key) != KEY_BYTES:
        raise AuthKeyError(f"{where} is not {KEY_BYTES * 2} hex digits")
    return key


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data  # length-prefixed: no two inputs collide


_EMPTY_PROPS = b"".join(_field(b"") for _ in SIGNED_PROPERTIES)
_HEAD = _field(_LABEL)


def _message(topic: str, payload: bytes, props: Mapping[str, str]) -> bytes:
    if props and any(k in props for k in SIGNED_PROPERTIES):
        signed = b"".join(
            _field(f"{k}={props[k]}".encode() if k in props else b"") for k in SIGNED_PROPERTIES
        )
    else:
        signed = _EMPTY_PROPS  # records and acks: the common case, ~2 us less
    return _HEAD + _field(topic.encode()) + signed + payload


def sign(
    key: bytes, topic: str, payload: bytes, props: Mapping[str, str] | Sequence[tuple[str, str]] = ()
) -> str:
    """The `mac` user property value (hex) for one message."""
    p = props if isinstance(props, Mapping) else dict(props)
    return hmac.digest(key, _message(topic, payload, p), hashlib.sha256).hex()


def verify(key: bytes, topic: str, payload: bytes, props: Mapping[str, str]) -> bool:
    """True when props carry a `mac` made with `key` over this topic/props/payload."""
    mac = props.get(MAC_PROPERTY)
    if not mac or len(mac) != 64:
        return False
    return hmac.compare_digest(mac, sign(key, topic, payload, props))
