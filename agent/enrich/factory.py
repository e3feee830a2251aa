"""Build enrichment clients from the agent config (one place, used by CLI, service, demo)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from agent.config import EnrichSection
from agent.enrich.cache import Cache
from agent.enrich.db import StateDB
from agent.enrich.limiter import HostLimiter
from agent.enrich.nhtsa import NhtsaClient
from agent.enrich.resilience import BreakerPolicy, Resilience
from agent.enrich.retry import RetryPolicy

__all__ = ["STATE_FILE", "build_nhtsa", "build_resilience"]

STATE_FILE = "enrich.sqlite"


def build_resilience(section: EnrichSection, db: StateDB | None) -> Resilience:
    nhtsa_hosts = {
        urlsplit(section.nhtsa.vpic_url).netloc: section.nhtsa.rate_per_s,
        urlsplit(section.nhtsa.recalls_url).netloc: section.nhtsa.rate_per_s,
    }
    return Resilience(
        db=db,
        limiter=HostLimiter(section.manufacturer_rate_per_s, nhtsa_hosts),
        retry=RetryPolicy(attempts=section.retry_attempts, deadline_s=section.call_deadline_s),
        breaker_policy=BreakerPolicy(
            failure_threshold=section.breaker_failure_threshold,
            open_timeout_s=section.breaker_open_timeout_s,
        ),
    )


def build_nhtsa(
    section: EnrichSection,
    db: StateDB | None,
    resilience: Resilience,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> NhtsaClient:
    """The NHTSA client at `section.nhtsa.vpic_url` and `.recalls_url`: each is the
    base URL of its service, in config, CLI flags and simulator alike."""
    return NhtsaClient(
        vpic_url=section.nhtsa.vpic_url,
        recalls_url=section.nhtsa.recalls_url,
        resilience=resilience,
        cache=Cache(db, section.cache_max_entries),
        transport=transport,
        timeout_s=section.nhtsa.timeout_s,
        batch_window_s=section.batch_window_ms / 1000,
    )


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE
