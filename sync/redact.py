"""Hiding credentials in text that is shown: URLs with a password and libpq
keyword strings (`password=...`). One place, used by the backend's banner and
errors, the store's errors and the agent's log formatter.

    >>> redact("postgresql://ingest:s3cret@db:5432/baygate")
    'postgresql://ingest:***@db:5432/baygate'
"""

from __future__ import annotations

import re

__all__ = ["redact"]

# scheme://user:password@  ->  scheme://user:***@   (the user name stays: it helps)
_URL = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s@/]*@")
# password=..., passwd=..., pwd=... in a DSN or a query string, quoted or not
_KV = re.compile(r"(?i)\b(?P<key>password|passwd|pwd)(?P<sep>\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s&;]+)")


def redact(text: str) -> str:
    """`text` with every credential in it replaced by ***."""
    if "@" not in text and "=" not in text:
        return text
    text = _URL.sub(r"\g<head>***@", text)
    return _KV.sub(r"\g<key>\g<sep>***", text)
