"""The one way a simulator's command line reports a port it cannot listen on.

One line on stderr naming HOST:PORT and the reason, then exit 1: the agent's code for "a
host or port the environment refuses (e.g. port in use)" (README "Command line",
agent/cli/__init__.py). Simulators import nothing of the agent's, so the code is restated
here, once, for elm327 (--tcp), camera (--mjpeg), nhtsa and manufacturer (--port).
"""

from __future__ import annotations

import os
import sys

__all__ = ["EXIT_CANNOT_LISTEN", "cannot_listen"]

EXIT_CANNOT_LISTEN = 1


def cannot_listen(prog: str, host: str, port: int, exc: OSError) -> int:
    """Print `PROG: cannot listen on HOST:PORT: REASON` and return the exit code."""
    # asyncio's bind error buries the reason in "error while attempting to bind on
    # address (...): address already in use"; the errno says it plainly.
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    print(f"{prog}: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
    return EXIT_CANNOT_LISTEN
