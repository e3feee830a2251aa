"""The agent's status on the broker: a birth before each connection, a Last Will after.

Before each connection the link commits an "online" birth row (retained, held back
until CONNACK) and sets as Last Will the same record with state "offline" (same id and
seq). Both carry the session counter, so the backend pairs a death with its birth; the
record store keeps the birth once (same id), and the backend's presence table takes
the latest state of every status message, duplicates included. A birth whose
connection never came up becomes a tombstone, so its seq is not a gap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from paho.mqtt.packettypes import PacketTypes

from sync.auth import MAC_PROPERTY, sign
from sync.link_settings import StatusInfo, StatusRender
from sync.mqtt import properties
from sync.outbox import Outbox

__all__ = ["hold_birth", "set_will"]


async def hold_birth(outbox: Outbox, topic: str, render: StatusRender, session: int) -> tuple[int, bytes]:
    """Commit the held birth; return its seq and the Last Will: the same record, state offline."""
    st = await outbox.stats()
    online = StatusInfo("online", session, st.depth, st.oldest_pending_age_s)
    will: list[bytes] = []

    def rendered(seq: int, epoch: str) -> bytes:
        will.append(render(seq, epoch, replace(online, state="offline")))
        return render(seq, epoch, online)

    seq = await outbox.hold("status", topic, rendered, retain=True)
    return seq, will[-1]


def set_will(client: Any, topic: str, will: bytes, key: bytes | None) -> None:
    """The Last Will is a record like any other: signed, or the backend refuses it."""
    wprops = None
    if key is not None:
        mac = sign(key, topic, will)
        wprops = properties(PacketTypes.WILLMESSAGE, UserProperty=[(MAC_PROPERTY, mac)])
    client.will_set(topic, will, qos=1, retain=True, properties=wprops)
