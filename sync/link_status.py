"""The agent's status on the broker: a birth before each connection, a Last Will after.

Before each connection the link commits an "online" birth row (retained, held back
until CONNACK) and sets as Last Will the same record with state "offline" (same id and
seq). Both carry the session counter, so the backend pairs a death with its birth; the
record store keeps the birth once (same id), and the backend's presence table takes
the latest state of every status message, duplicates included. A birth whose
connection never came up becomes a tombstone, so its seq is not a gap.

Both also carry `acked_through` (sync/outbox_schema.py OutboxStats): every seq up to it
has left the outbox, so a backend that lacks them (a restored or new database) moves
past them instead of waiting for ever. The link also says it between births, in a
status record of the live session, when a backend asks to replay rows that are gone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from paho.mqtt.packettypes import PacketTypes

from sync.auth import MAC_PROPERTY, sign
from sync.link_settings import StatusInfo, StatusRender
from sync.mqtt import properties
from sync.outbox import Outbox
from sync.outbox_schema import OutboxStats

__all__ = ["hold_birth", "put_status", "set_will"]


async def hold_birth(outbox: Outbox, topic: str, render: StatusRender, session: int) -> tuple[int, bytes]:
    """Commit the held birth; return its seq and the Last Will: the same record, state offline."""
    st = await outbox.stats()
    online = StatusInfo("online", session, st.depth, st.oldest_pending_age_s, st.acked_through)
    will: list[bytes] = []

    def rendered(seq: int, epoch: str) -> bytes:
        will.append(render(seq, epoch, replace(online, state="offline")))
        return render(seq, epoch, online)

    seq = await outbox.hold("status", topic, rendered, retain=True)
    return seq, will[-1]


async def put_status(outbox: Outbox, topic: str, render: StatusRender, session: int, st: OutboxStats) -> int:
    """A status record of the live session (still online) saying what is gone; its seq."""
    info = StatusInfo("online", session, st.depth, st.oldest_pending_age_s, st.acked_through)
    return await outbox.put("status", topic, lambda seq, epoch: render(seq, epoch, info), retain=True)


def set_will(client: Any, topic: str, will: bytes, key: bytes | None) -> None:
    """The Last Will is a record like any other: signed, or the backend refuses it."""
    wprops = None
    if key is not None:
        mac = sign(key, topic, will)
        wprops = properties(PacketTypes.WILLMESSAGE, UserProperty=[(MAC_PROPERTY, mac)])
    client.will_set(topic, will, qos=1, retain=True, properties=wprops)
