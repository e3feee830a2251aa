"""Fan-out of bay events to the open pages (server-sent events).

Each page gets a bounded queue (`QUEUE_SIZE` events). A page that cannot keep up (a
tablet asleep on the LAN) is not allowed to grow the agent: when its queue is full it
is marked stale and its stream ends; the browser's EventSource reconnects and the first
event of a new stream is a full snapshot, so the page loses nothing it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALL_BAYS", "QUEUE_SIZE", "Event", "Hub", "Subscriber"]

QUEUE_SIZE = 256
ALL_BAYS = "*"  # the overview page listens to every bay


@dataclass(frozen=True)
class Event:
    name: str  # snapshot | samples | overview
    bay: str
    data: dict[str, Any]


@dataclass(eq=False)
class Subscriber:
    bay: str
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    stale: bool = False

    async def events(self) -> AsyncIterator[Event]:
        """Events until the last word ("bye", queued when the page is cut off or the
        server stops)."""
        while True:
            ev = await self.queue.get()
            yield ev
            if ev.name == "bye":
                return


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.dropped_clients = 0  # pages cut off for being too slow (they reconnect)

    def subscribe(self, bay: str) -> Subscriber:
        sub = Subscriber(bay)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, event: Event) -> None:
        for sub in list(self.subscribers):
            if sub.bay not in (event.bay, ALL_BAYS) or sub.stale:
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.stale = True
                self.dropped_clients += 1
                self.subscribers.discard(sub)
                # Wake its reader so the stream ends now rather than at the next event.
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(Event("bye", sub.bay, {}))

    def close(self) -> None:
        """End every stream (the server is stopping): each page gets its last event."""
        for sub in list(self.subscribers):
            sub.stale = True
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(Event("bye", sub.bay, {}))
        self.subscribers.clear()
