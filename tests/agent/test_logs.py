"""Log lines: JSON objects when not on a terminal (journald), readable text on one."""

from __future__ import annotations

import io
import json
import logging

from agent.logs import BurstFilter, setup_logging


def test_json_lines_keep_extra_fields_and_exceptions() -> None:
    buf = io.StringIO()
    setup_logging("DEBUG", stream=buf, json_lines=True)
    log = logging.getLogger("baygate.test")
    log.info("outbox depth %d", 12, extra={"stream": "scan"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert lines[0]["msg"] == "outbox depth 12"
    assert lines[0]["stream"] == "scan"
    assert lines[0]["level"] == "INFO"
    assert "ValueError: boom" in lines[1]["exc"]


def test_non_tty_stream_defaults_to_json_and_level_filters() -> None:
    buf = io.StringIO()
    setup_logging("WARNING", stream=buf)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert [json.loads(x)["msg"] for x in buf.getvalue().splitlines()] == ["shown"]


def test_identical_warnings_are_rate_limited_with_a_count() -> None:
    now = [0.0]
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.addFilter(BurstFilter(window_s=60, clock=lambda: now[0]))
    log = logging.getLogger("baygate.test.burst")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    try:
        for i in range(500):  # a flapping dongle: 500 losses in 5 s
            now[0] = i * 0.01
            log.warning("%s: link lost: %s", "bay1", f"closed #{i}")
        log.warning("a different warning")
        log.info("info is never rate-limited")
        log.info("info is never rate-limited")
        now[0] = 61.0
        log.warning("%s: link lost: %s", "bay1", "closed again")
    finally:
        log.handlers[:] = []
    lines = buf.getvalue().splitlines()
    assert lines == [
        "bay1: link lost: closed #0",
        "a different warning",
        "info is never rate-limited",
        "info is never rate-limited",
        "bay1: link lost: closed again (repeated 499 times in the last 61 s)",
    ]
