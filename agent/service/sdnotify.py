"""sd_notify over `$NOTIFY_SOCKET`, without libsystemd.

~15 lines instead of a dependency: the `sdnotify` package swallows errors and
`systemd-python` needs libsystemd headers on every Pi (docs/facts.md). The socket may be a
path or an abstract name (leading '@'). Outside systemd (no `$NOTIFY_SOCKET`) every call
is a no-op that returns False, so the same code runs in a terminal and in tests.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_interval_s"]


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send one state line (e.g. "READY=1", "WATCHDOG=1", "STATUS=...")."""
    env = os.environ if environ is None else environ
    addr = env.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(addr)
        sock.sendall(state.encode())
    return True


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """Half of systemd's WatchdogSec (from `$WATCHDOG_USEC`), or None when not armed.

    Pinging at half the deadline tolerates one late ping (a slow SQLite fsync on an SD
    card can take a few hundred ms) without a false restart.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2
