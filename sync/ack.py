"""The backend's acknowledgement on `baygate/v1/{shop}/{agent}/ack`, both ends.

`{"epoch": E, "seq": N}`, retained: the backend has committed every record of the
agent's outbox database E up to seq N, so the agent may delete those rows (the ones the
broker took). Sans-IO: the ingest encodes, the link parses; an untrusted payload goes
through the bounded parser and never raises anything but BadMessageError. Who sent it
is proven separately, by the MAC the link checks (sync/auth.py).
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.errors import BadMessageError
from untrusted import UntrustedInputError, parse_object

__all__ = ["MAX_ACK_BYTES", "encode_ack", "parse_ack"]

MAX_ACK_BYTES = 1024  # an ack is ~70 bytes


class _Ack(BaseModel):
    model_config = ConfigDict(extra="ignore")
    epoch: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0, lt=2**63)


def encode_ack(epoch: str, seq: int) -> bytes:
    return json.dumps({"epoch": epoch, "seq": seq}).encode()


def parse_ack(raw: bytes, *, epoch: str, last_seq: int, topic: str = "ack") -> int | None:
    """The acknowledged seq, or None for an ack of another outbox database (one that
    was wiped: nothing of ours). Malformed, or beyond what we ever sent:
    BadMessageError."""
    try:
        body = parse_object(raw, max_bytes=MAX_ACK_BYTES, max_depth=2, what="backend ack")
        ack = _Ack.model_validate(body, strict=True)
    except (UntrustedInputError, ValidationError) as exc:
        raise BadMessageError(f"malformed backend ack on {topic} ignored: {exc}") from None
    if ack.epoch != epoch:
        return None
    if ack.seq > last_seq:
        raise BadMessageError(f"backend ack for seq {ack.seq} beyond our last seq ignored")
    return ack.seq
