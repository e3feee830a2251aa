"""The broker's MQTT 5 limits, from its CONNACK, and what the link does about them.

A PUBLISH over the broker's Maximum Packet Size is a protocol error (Mosquitto drops
the connection), and more unacked QoS 1 publishes than its Receive Maximum are refused
(PUBACK 0x97, quota exceeded). So the link's window is min(ours, Receive Maximum), and
a row too big for the broker leaves the flow durably instead of stalling everything
behind it: payload kept in the outbox's `rejected` table, the seq sent as a tombstone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from paho.mqtt.properties import Properties

from sync.link_settings import LinkCounters
from sync.outbox import Outbox
from sync.outbox_schema import Row

__all__ = ["BrokerLimits", "OnRejected", "packet_size"]

log = logging.getLogger("baygate.sync.link")

# PUBLISH = fixed header (1) + remaining length (<= 4) + topic length (2) + topic
# + packet id (2) + properties (length varint included in `pack()`) + payload.
_FIXED_OVERHEAD = 1 + 4 + 2 + 2
_NO_PROPERTIES = 1  # an empty property block is its length byte
_MAX_WINDOW = 65_535  # MQTT 5 Receive Maximum when the CONNACK does not say

# (seq, topic, payload size, broker limit): the broker will not take this record.
OnRejected = Callable[[int, str, int, int], Awaitable[None]]


def packet_size(row: Row, props: Properties | None) -> int:
    """The PUBLISH packet's size on the wire, as the broker counts it."""
    packed = _NO_PROPERTIES if props is None else len(props.pack())  # type: ignore[no-untyped-call]
    return _FIXED_OVERHEAD + len(row.topic.encode()) + packed + len(row.payload)


class BrokerLimits:
    def __init__(
        self,
        outbox: Outbox,
        counters: LinkCounters,
        inflight: int,
        rewind: Callable[[int], None],
        on_rejected: OnRejected | None = None,
    ) -> None:
        self.outbox = outbox
        self.counters = counters
        self.inflight = inflight  # ours (settings.inflight)
        self.max_packet: int | None = None  # CONNACK Maximum Packet Size
        self.window = inflight  # min(ours, CONNACK Receive Maximum)
        self._rewind = rewind
        self._on_rejected = on_rejected

    def from_connack(self, props: Any) -> None:
        self.max_packet = getattr(props, "MaximumPacketSize", None)
        self.window = min(self.inflight, int(getattr(props, "ReceiveMaximum", _MAX_WINDOW)))

    def too_big(self, row: Row, props: Properties | None) -> bool:
        return bool(self.max_packet) and packet_size(row, props) > (self.max_packet or 0)

    async def reject(self, row: Row) -> None:
        """The broker will never take this row: resending it would stall everything
        behind it for good (the backend's high-water mark stops at its seq). It leaves
        the flow durably: payload kept in the outbox's `rejected` table, the seq sent
        as a tombstone (`dropped=1`, `reason=rejected`), counted, and reported."""
        limit = self.max_packet or 0
        size = len(row.payload)
        self.counters.oversize += 1
        log.error(
            "row %d on %s (%d bytes) exceeds the broker's maximum packet size %d: rejected, "
            "its seq goes out as a tombstone and the payload stays in the outbox's rejected table",
            row.seq,
            row.topic,
            size,
            limit,
        )
        if not await self.outbox.reject(row.seq, f"over the broker's maximum packet size {limit}"):
            return
        self._rewind(row.seq - 1)
        if self._on_rejected is not None:
            try:
                await self._on_rejected(row.seq, row.topic, size, limit)
            except Exception:  # a failed report must not stop delivery
                log.exception("reporting rejected row %d failed", row.seq)
