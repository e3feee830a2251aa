"""Retries with tenacity: exponential backoff with full jitter, Retry-After honoured,
no retry on 4xx except 429, and a deadline per call.

Sleeps and the clock are injected so tests never wait. A wait that would cross the
deadline is not taken: the call fails at once with the last error instead.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from agent.enrich.errors import RemoteError

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_s: float = 0.25
    max_backoff_s: float = 8.0
    deadline_s: float = 20.0
    # A Retry-After longer than this is not waited for inside one call; the durable
    # queue retries later instead of holding a worker.
    max_retry_after_s: float = 30.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RemoteError) and exc.retryable


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    start = clock()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff: float = rng() * min(policy.max_backoff_s, policy.base_s * 2 ** (state.attempt_number - 1))
        after = getattr(exc, "retry_after", None)
        if isinstance(after, int | float) and after > 0:
            # The server said when: never earlier than that.
            return float(max(float(after), backoff))
        return backoff

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        if upcoming > policy.max_retry_after_s:
            return True
        return clock() - start + upcoming > policy.deadline_s

    retrying = AsyncRetrying(
        stop=stop, wait=wait, retry=retry_if_exception(_retryable), sleep=sleep, reraise=True
    )
    result: T = await retrying(fn)
    return result
