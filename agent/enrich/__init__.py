"""Enrichment: offline VIN facts, NHTSA vPIC + recalls, manufacturer connectors, and the
resilience they share (breaker, limiter, retries, single-flight, persistent cache, queue).
"""

import logging

# httpx logs every request at INFO: on a Pi decoding batches that floods the journal.
logging.getLogger("httpx").setLevel(logging.WARNING)
