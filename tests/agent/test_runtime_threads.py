"""`baygate run`'s blocking work runs in named threads, and its stop is logged."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.pipelines.sink import RecordSink
from agent.service.runtime import Runtime, run_until_signalled
from tests.support.broker import free_port


def test_worker_threads_are_named_and_the_stop_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="baygate.runtime")
    config = parse_config(
        {
            "agent": {"shop_id": "s", "agent_id": "a", "state_dir": str(tmp_path)},
            "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},
        },
        environ={},
    )
    names: list[str] = []

    async def pipeline(sink: RecordSink) -> None:
        names.append(await asyncio.to_thread(lambda: threading.current_thread().name))
        os.kill(os.getpid(), signal.SIGTERM)  # what systemd sends on stop
        await asyncio.Event().wait()

    run_until_signalled(Runtime(config, [pipeline]))
    assert names and names[0].startswith("baygate-worker")
    msgs = [r.getMessage() for r in caplog.records]
    assert "SIGTERM received: stopping (undelivered records stay in the outbox)" in msgs
    assert msgs[-1] == "agent stopped"
