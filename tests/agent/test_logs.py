"""Log lines: JSON objects when not on a terminal (journald), readable text on one."""

from __future__ import annotations

import io
import json
import logging

from agent.logs import setup_logging


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
