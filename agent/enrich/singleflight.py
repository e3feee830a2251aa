"""Single-flight: concurrent requests for the same key share one call and its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from agent.enrich.errors import TransportError

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self.shared = 0  # how many callers joined an existing call (for tests and metrics)

    async def do(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        fut = self._inflight.get(key)
        if fut is not None:
            self.shared += 1
            # shield: one waiter being cancelled must not cancel the call the others share.
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await fn()
        except BaseException as exc:
            # A cancelled leader must not cancel its followers' tasks: they get an error
            # they can handle (serve stale, retry later) instead.
            shared = exc if isinstance(exc, Exception) else TransportError("shared call was cancelled")
            fut.set_exception(shared)
            fut.exception()  # mark retrieved: no "exception never retrieved" warning if alone
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            del self._inflight[key]
