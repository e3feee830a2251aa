"""The agent's runtime with pipelines that misbehave, as a process a test can watch.

    python -m tests.support.failing_agent CONFIG MODE BOUND_S

MODE `fail`: a pipeline fails after a second while another is stuck in a blocking
thread and a third ignores cancellation: what a wedged camera read or a buggy task
does to shutdown. MODE `stuck`: only the stuck ones (stopped by signals). The real
`Runtime` and `run_until_signalled` run them; exit codes as the CLI's (1: runtime
failure, one line on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from pathlib import Path

from agent.config import load_config
from agent.errors import AgentError
from agent.logs import setup_logging
from agent.pipelines.sink import Pipeline, RecordSink
from agent.service.runtime import Runtime, run_until_signalled

_never = threading.Event()


async def stuck_in_a_thread(_sink: RecordSink) -> None:
    await asyncio.to_thread(_never.wait)  # a read that never returns, like a dead camera


async def ignores_cancellation(_sink: RecordSink) -> None:
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)


async def fails(sink: RecordSink) -> None:
    await asyncio.sleep(1.0)
    raise RuntimeError("poison: this task fails")


def main(config: Path, mode: str, bound_s: float) -> int:
    setup_logging("INFO", json_lines=False)
    pipelines: list[Pipeline] = [stuck_in_a_thread, ignores_cancellation]
    if mode == "fail":
        pipelines.append(fails)
    try:
        run_until_signalled(Runtime(load_config(config), pipelines), bound_s=bound_s)
    except AgentError as exc:
        print(f"baygate run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
