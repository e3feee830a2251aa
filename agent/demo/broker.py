"""A Mosquitto for the demo: free loopback port, temp config, persistence on.

Persistence needs a writable `persistence_location` (mosquitto silently fails to
persist otherwise), so the directory is ours. Never the system broker on 1883.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path
from types import TracebackType

from agent.errors import AgentError

__all__ = ["LocalBroker"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_conf(self) -> tuple[str, Path]:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise AgentError("mosquitto not found (apt install mosquitto)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {data}/\nautosave_interval 1\nautosave_on_changes true\n"
            f"max_queued_messages 0\nset_tcp_nodelay true\nlog_dest file {self.workdir / 'mosquitto.log'}\n"
        )
        return exe, conf

    async def __aenter__(self) -> LocalBroker:
        exe, conf = self._write_conf()
        self.proc = await asyncio.create_subprocess_exec(
            exe, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        for _ in range(250):  # up to 5 s
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return self
            await asyncio.sleep(0.02)
        await self.__aexit__(None, None, None)
        raise AgentError(f"mosquitto did not listen on 127.0.0.1:{self.port}")

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
