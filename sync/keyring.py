"""The backend's key directory: `{keys_dir}/{shop}/{agent}.key`, one per agent.

`baygate broker add-agent` writes them. Keys are read on first use and kept; a miss
is remembered for `miss_ttl_s` so a flood of messages from unknown agents costs one
stat() per agent per interval, not one per message, while a newly added agent is
found within that interval without restarting the backend.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from sync.auth import decode_key
from sync.errors import AuthKeyError

__all__ = ["KeyRing", "key_path"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MAX_MISSES = 10_000  # remembered unknown agents; beyond it the oldest are forgotten


def key_path(keys_dir: Path, shop: str, agent: str) -> Path:
    if not (_ID.match(shop) and _ID.match(agent)):
        raise AuthKeyError(f"{shop!r}/{agent!r} is not a valid shop/agent id")
    return keys_dir / shop / f"{agent}.key"


class KeyRing:
    def __init__(
        self, keys_dir: Path, *, miss_ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys_dir = keys_dir
        self._keys: dict[tuple[str, str], bytes] = {}
        self._misses: dict[tuple[str, str], float] = {}
        self._ttl = miss_ttl_s
        self._clock = clock

    def key(self, shop: str, agent: str) -> bytes | None:
        """The agent's key, or None when it has none (or an unreadable one)."""
        ident = (shop, agent)
        found = self._keys.get(ident)
        if found is not None:
            return found
        now = self._clock()
        missed = self._misses.get(ident)
        if missed is not None and now - missed < self._ttl:
            return None
        try:
            path = key_path(self.keys_dir, shop, agent)
            key = decode_key(path.read_text(), str(path))
        except (OSError, AuthKeyError):
            if len(self._misses) >= _MAX_MISSES:
                self._misses.pop(next(iter(self._misses)))
            self._misses[ident] = now
            return None
        self._misses.pop(ident, None)
        self._keys[ident] = key
        return key
