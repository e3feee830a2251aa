"""Every remote call goes through here: breaker (per host) -> retry -> limiter -> HTTP.

The breaker wraps the whole retried call, so one logical call that exhausted its
retries counts as one failure; the limiter sits inside the retry so every attempt pays
a token. httpx exceptions and bad statuses are translated into agent.enrich.errors here.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from agent.enrich.breaker import BreakerSnapshot, BreakerState, CircuitBreaker, Listener
from agent.enrich.db import StateDB
from agent.enrich.errors import AuthError, RemoteStatusError, TransportError
from agent.enrich.limiter import HostLimiter
from agent.enrich.retry import RetryPolicy, call_with_retry

__all__ = ["BreakerPolicy", "Resilience", "host_of", "raise_for_status", "retry_after_of"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_timeout_s: float = 30.0
    success_threshold: int = 1


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def retry_after_of(value: str | None, now: float) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def raise_for_status(resp: httpx.Response, now: float) -> None:
    if resp.is_success:
        return
    url = str(resp.request.url.copy_with(query=None))
    detail = resp.text[:120].replace("\n", " ") if resp.content else ""
    if resp.status_code in (401, 403):
        raise AuthError(resp.status_code, url, detail)
    raise RemoteStatusError(
        resp.status_code, url, detail, retry_after_of(resp.headers.get("Retry-After"), now)
    )


@dataclass
class Resilience:
    """Breakers, limiter and retry policy shared by every remote client of one agent."""

    db: StateDB | None = None
    limiter: HostLimiter = field(default_factory=lambda: HostLimiter(5.0))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    clock: Callable[[], float] = time.time  # wall: persisted breaker instants
    monotonic: Callable[[], float] = time.monotonic  # retry deadlines
    sleep: Sleep = asyncio.sleep
    listeners: list[Listener] = field(default_factory=list)
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def breaker(self, host: str) -> CircuitBreaker:
        br = self._breakers.get(host)
        if br is not None:
            return br
        async with self._lock:
            if host in self._breakers:
                return self._breakers[host]
            restored = await self._load(host) if self.db else None
            p = self.breaker_policy
            br = CircuitBreaker(
                host,
                failure_threshold=p.failure_threshold,
                open_timeout_s=p.open_timeout_s,
                success_threshold=p.success_threshold,
                clock=self.clock,
                persist=self._save if self.db else None,
                restored=restored,
            )
            for listener in self.listeners:
                br.add_listener(listener)
            self._breakers[host] = br
            return br

    def add_listener(self, listener: Listener) -> None:
        """Hear every breaker's state changes, existing breakers and future ones."""
        self.listeners.append(listener)
        for br in self._breakers.values():
            br.add_listener(listener)

    def states(self) -> dict[str, BreakerState]:
        return {h: b.state for h, b in self._breakers.items()}

    async def call(self, url: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt` (one HTTP exchange, already translated) with every protection."""
        host = host_of(url)
        br = await self.breaker(host)

        async def limited() -> T:
            await self.limiter.acquire(host)
            return await attempt()

        async def retried() -> T:
            return await call_with_retry(limited, self.retry, clock=self.monotonic, sleep=self.sleep)

        return await br.call(retried)

    async def _load(self, host: str) -> BreakerSnapshot | None:
        assert self.db is not None

        def q(conn: sqlite3.Connection) -> Any:
            return conn.execute(
                "SELECT state, failures, opened_at FROM breakers WHERE name=?", (host,)
            ).fetchone()

        row = await self.db.run(q)
        return BreakerSnapshot(host, BreakerState(row[0]), row[1], row[2]) if row else None

    async def _save(self, snap: BreakerSnapshot) -> None:
        assert self.db is not None
        await self.db.run(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO breakers VALUES (?,?,?,?)",
                (snap.name, snap.state.value, snap.failures, snap.opened_at),
            )
        )


async def send(client: httpx.AsyncClient, request: httpx.Request, now: Callable[[], float]) -> httpx.Response:
    """One HTTP exchange, httpx errors translated; non-2xx raised as RemoteStatusError."""
    try:
        resp = await client.send(request)
    except httpx.TimeoutException as exc:
        raise TransportError(f"timeout talking to {request.url.host}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        raise TransportError(f"network error talking to {request.url.host}: {exc!r}") from None
    raise_for_status(resp, now())
    return resp
