"""The link's settings, its counters, the status info a birth/Last Will is rendered
from, and the reconnect backoff policy: the plain data around `sync.link.Link`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from resilience import Backoff
from sync.errors import SyncError
from sync.mqtt import TlsFiles

__all__ = ["LinkCounters", "LinkSettings", "StatusInfo", "StatusRender", "reconnect_forever"]


@dataclass(frozen=True)
class StatusInfo:
    state: str  # "online" (birth) or "offline" (Last Will)
    session: int
    outbox_depth: int
    oldest_pending_s: float | None
    # Every seq up to this one was acked by a backend and is no longer held: a
    # backend whose store lacks them (a restored or new database) cannot get them back
    # and moves its high-water mark past them instead of asking forever.
    acked_through: int | None = None


StatusRender = Callable[[int, str, StatusInfo], bytes]


@dataclass(frozen=True)
class LinkSettings:
    url: str
    client_id: str
    base_topic: str  # baygate/v1/{shop}/{agent}
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    keepalive_s: int = 30
    inflight: int = 100
    ack_retention_s: float | None = None
    ack_timeout_s: float = 30.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    # The per-agent key of sync/auth.py; None = no end-to-end authentication (a
    # broker's ACLs alone protect the outbox, the weaker setup: docs/security.md).
    auth_key: bytes | None = field(default=None, repr=False)
    replay_window_s: float = 5.0  # at most one replay per window (sync/replay.py)


@dataclass
class LinkCounters:
    connects: int = 0
    published: int = 0
    historical: int = 0
    broker_acks: int = 0
    refused_pubacks: int = 0
    backend_acks: int = 0
    bad_acks: int = 0
    unauthenticated: int = 0  # acks/commands whose MAC did not verify
    oversize: int = 0  # rows over the broker's Maximum Packet Size, rejected
    peak_inflight: int = 0  # most unacked publishes at once (<= Receive Maximum)
    no_subscribers: int = 0
    ack_timeouts: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def reconnect_forever(
    session: Callable[[], Awaitable[None]],
    on_error: Callable[[SyncError], None],
    backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run `session` again and again until cancelled, waiting `backoff.next_delay()`
    between runs whether the last one failed or ended by itself. The session calls
    `backoff.up()` once connected; only a connection that then stayed up for the
    policy's healthy_after_s resets the delay (a broker that accepts and drops at once
    is not hammered). Only SyncError is expected; the rest propagates (a bug, not a
    network condition)."""
    while True:
        try:
            await session()
        except SyncError as exc:
            on_error(exc)
        await sleep(backoff.next_delay())
