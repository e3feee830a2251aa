"""Every HTTP answer enrichment reads (vPIC, recalls, manufacturer APIs, token
endpoints) is untrusted input: parsed here, through the one bounded parser.

Two outcomes for a bad body, because the durable queue treats them differently:
- not JSON at all (an HTML error page, a truncated body): DataError, retryable, as a
  proxy or an overloaded service produces it and the next attempt may be fine;
- JSON that breaks a bound (nested deeper than any real answer, bigger than any real
  answer, numbers beyond +-2^63 or inf/nan): PoisonAnswerError, permanent. Retrying
  cannot change it, and it must not be retried on every start (issue 10: a poison vPIC
  answer was retried by the durable queue forever).
"""

from __future__ import annotations

from typing import Any

from agent.enrich.errors import DataError, PoisonAnswerError
from untrusted import NotJsonError, UntrustedInputError, parse_json

__all__ = ["MAX_ANSWER_BYTES", "MAX_ANSWER_DEPTH", "parse_answer"]

# A 50-VIN DecodeVINValuesBatch answer is ~250 kB; manufacturer batch answers are
# smaller. 8 MiB leaves room and still bounds what one answer can cost.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
MAX_ANSWER_DEPTH = 32  # vPIC answers nest 3 levels, the connectors' samples at most 6


def parse_answer(body: bytes, what: str) -> Any:
    try:
        return parse_json(body, max_bytes=MAX_ANSWER_BYTES, max_depth=MAX_ANSWER_DEPTH, what=what)
    except NotJsonError:
        head = body[:40].decode("utf-8", "replace")
        raise DataError(f"{what}: not JSON ({len(body)} bytes, starts {head!r})") from None
    except UntrustedInputError as exc:
        raise PoisonAnswerError(str(exc)) from None
