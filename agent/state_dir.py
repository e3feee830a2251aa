"""The agent's state dir: made and proved writable before anything opens a file in it.

`baygate run` and `baygate doctor` share this, so what doctor passes, run can open.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from agent.config import Config
from agent.errors import ConfigError

__all__ = ["ensure_state_dir"]


def ensure_state_dir(config: Config) -> Path:
    """Create `agent.state_dir` and prove it writable, or raise ConfigError naming the key
    (run and doctor share this: what doctor passes, run can open)."""
    d = config.agent.state_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".baygate-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        # A full disk is not a config error: the agent must start on one to receive
        # the acks that free space (the outbox's reserve covers it; issue 10).
        if exc.errno == errno.ENOSPC and d.is_dir() and os.access(d, os.W_OK | os.X_OK):
            with contextlib.suppress(OSError):
                probe.unlink()
            return d
        raise ConfigError("agent.state_dir", f"{d} cannot be created or written: {exc.strerror}") from None
    return d
