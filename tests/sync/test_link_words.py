"""What the link says when a broker stops: words that are true, at the right level."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.sync import agent_side, until


@pytest.mark.anyio
async def test_a_broker_that_stops_is_not_an_unspecified_error(
    own_broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="baygate.sync.link")
    async with agent_side(tmp_path, own_broker.url) as (_ob, link):
        await link.wait_connected()
        own_broker.stop()  # SIGTERM: Mosquitto 2.0 closes the socket without DISCONNECT
        await until(lambda: not link.connected, what="link down")
        await until(lambda: any("mqtt link lost" in r.message for r in caplog.records), what="the log line")
    lost = [r.message for r in caplog.records if "mqtt link lost" in r.message]
    assert lost == [
        "mqtt link lost: the broker closed the connection (stopped, restarted or unreachable); reconnecting"
    ]
    assert not any("Unspecified error" in r.message for r in caplog.records)
