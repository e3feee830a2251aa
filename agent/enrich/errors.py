"""Errors raised by enrichment: NHTSA, manufacturer connectors and their resilience layer.

Third-party exceptions (httpx, sqlite3, json, tenacity) are translated into these at the
boundary; nothing else leaves agent.enrich.
"""

from __future__ import annotations

from agent.errors import AgentError

__all__ = [
    "AuthError",
    "BreakerOpenError",
    "ConnectorConfigError",
    "DataError",
    "EnrichError",
    "NotFoundError",
    "RemoteError",
    "RemoteStatusError",
    "TransportError",
    "UnknownProductError",
]


class EnrichError(AgentError):
    """Root of every enrichment error."""


class RemoteError(EnrichError):
    """A remote call did not produce a usable answer.

    `retryable`: worth another attempt later (network, 5xx, 429, corrupt body).
    `counts_as_failure`: evidence that the service is unhealthy (for the breaker).
    """

    retryable = True
    counts_as_failure = True
    retry_after: float | None = None


class TransportError(RemoteError):
    """Connect refused, reset, timeout: no HTTP answer at all."""


class RemoteStatusError(RemoteError):
    """The service answered with a non-2xx status."""

    def __init__(self, status: int, url: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {url}" + (f": {detail}" if detail else ""))
        self.status = status
        self.url = url
        self.retry_after = retry_after
        # 4xx other than 429 is our request's fault: retrying cannot help, and the
        # service is demonstrably up, so the breaker must not count it.
        client_error = 400 <= status < 500 and status != 429
        self.retryable = not client_error
        self.counts_as_failure = not client_error


class AuthError(RemoteStatusError):
    """401/403: credentials missing, wrong or not entitled. Never retried."""


class DataError(RemoteError):
    """The answer arrived but is not what the API promises (HTML, truncated or garbage JSON)."""


class PoisonAnswerError(DataError):
    """The answer breaks a bound of the untrusted-input parser (too deep, too big,
    numbers out of range): permanent for this item, never retried."""

    retryable = False


class BreakerOpenError(RemoteError):
    """The breaker for this host is open (or its one half-open probe is in flight)."""

    counts_as_failure = False

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name} is open, next probe in {retry_in:.1f}s")
        self.name = name
        self.retry_after = retry_in


class NotFoundError(EnrichError):
    """A registration (or other local object) with that id does not exist."""


class UnknownProductError(EnrichError):
    """No connector recognises the serial, or it breaks the connector's serial rules."""


class ConnectorConfigError(EnrichError):
    """A manufacturer connector file is invalid; the message names file and key."""
