"""An ingest whose session another client took over stops, naming its client id, instead
of taking the session back forever. Brokers that say so send DISCONNECT 0x8E; a fake
broker on loopback plays that part here (Mosquitto 2.0.11 only closes the socket: that
path is tested through `baygate backend` in tests/agent/test_cli_errors.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sync.errors import SessionTakenOverError
from sync.ingest import Ingest, IngestSettings

pytestmark = pytest.mark.anyio

CONNACK_OK = b"\x20\x03\x00\x00\x00"  # MQTT 5: no session present, success, no properties
DISCONNECT_TAKEN_OVER = b"\xe0\x02\x8e\x00"  # reason 0x8E, no properties


async def test_disconnect_0x8e_ends_the_ingest_with_a_clear_error(anyio_backend: str, tmp_path: Path) -> None:
    connects = 0

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connects
        await reader.read(1024)  # CONNECT
        connects += 1
        writer.write(CONNACK_OK)
        await writer.drain()
        await asyncio.sleep(0.2)  # let it subscribe
        writer.write(DISCONNECT_TAKEN_OVER)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = IngestSettings(url=f"mqtt://127.0.0.1:{port}", db=str(tmp_path / "b.db"), client_id="twin")
    try:
        with pytest.raises(SessionTakenOverError, match=r"client id 'twin'.*0x8E"):
            await asyncio.wait_for(Ingest(settings).run(), 30)
    finally:
        server.close()
        await server.wait_closed()
    assert connects == 1  # it did not take the session back
