"""`python -m agent` as a child process, the way an operator starts it, for tests that
must see the real command line, signals and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def agent_process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m agent ARGS...` from the repo, stderr kept for the failure message;
    killed if the test leaves it running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


async def stops_cleanly_on_sigterm(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, as systemd sends it; the agent must exit 0 (its stderr otherwise)."""
    proc.send_signal(signal.SIGTERM)
    rc = await asyncio.to_thread(proc.wait, timeout_s)
    assert rc == 0, proc.stderr.read() if proc.stderr else b""
