"""Helpers for enrichment tests: fake services on loopback, a fake clock, client factories."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.enrich.cache import Cache
from agent.enrich.db import StateDB
from agent.enrich.limiter import HostLimiter
from agent.enrich.nhtsa import NhtsaClient
from agent.enrich.resilience import BreakerPolicy, Resilience
from agent.enrich.retry import RetryPolicy
from simulators.services.server import ServiceServer


@dataclass
class FakeClock:
    """Time that only moves when told to (or when code under test 'sleeps')."""

    now: float = 1_800_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def admin(server: ServiceServer, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the fake's admin API over real HTTP (as an operator would)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + "_admin/" + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=5) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def faults(server: ServiceServer, **body: Any) -> None:
    admin(server, "faults", body)


def requests_to(server: ServiceServer, prefix: str = "/") -> int:
    stats = admin(server, "stats")
    return sum(n for p, n in stats["by_path"].items() if p.startswith(prefix))


def resilience(
    clock: FakeClock,
    db: StateDB | None = None,
    *,
    failure_threshold: int = 3,
    open_timeout_s: float = 30.0,
    attempts: int = 3,
    rate_per_s: float = 1000.0,
) -> Resilience:
    return Resilience(
        db=db,
        limiter=HostLimiter(rate_per_s, clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(attempts=attempts, base_s=0.1, max_backoff_s=1.0, deadline_s=20.0),
        breaker_policy=BreakerPolicy(failure_threshold=failure_threshold, open_timeout_s=open_timeout_s),
        clock=clock,
        monotonic=clock,
        sleep=clock.sleep,
    )


def nhtsa_client(
    server: ServiceServer | str,
    clock: FakeClock,
    state_dir: Path | None = None,
    *,
    db: StateDB | None = None,
    res: Resilience | None = None,
    timeout_s: float = 5.0,
    batch_window_s: float = 0.002,
) -> NhtsaClient:
    if db is None and state_dir is not None:
        db = StateDB(state_dir / "enrich.sqlite")
    url = server if isinstance(server, str) else server.url
    return NhtsaClient(
        vpic_url=url + "api/vehicles/",
        recalls_url=url,
        resilience=res or resilience(clock, db),
        cache=Cache(db, 1000, clock=clock),
        timeout_s=timeout_s,
        batch_window_s=batch_window_s,
        clock=clock,
    )
