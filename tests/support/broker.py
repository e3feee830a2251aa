"""A real Mosquitto broker for tests, on a free loopback port, that a test can kill -9.

Persistence is on with a writable directory: mosquitto silently fails to persist
when `persistence_location` is not writable, so the directory is ours.

`secure_dir`: a directory written by `baygate broker init` (sync/provision.py). The
harness then loads the shipped security settings (anonymous refused, password file,
ACL) through their include_dir instead of allowing anonymous clients; only the
listener, persistence and logging lines stay the harness's own.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Broker", "free_port"]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout}s")


@dataclass
class Broker:
    """One mosquitto process. `kill()` is kill -9; `start()` restarts on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    persistence: bool = True
    extra_conf: str = ""
    secure_dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_conf(self) -> Path:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true" if self.secure_dir is None else "",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data}/",
            # Mosquitto started as root drops to the `mosquitto` user, which cannot write
            # into pytest's 0700 temp dirs: persistence would silently do nothing.
            f"user {getpass.getuser()}",
            # Save once a second: saving on every change makes a persistent broker crawl,
            # and a kill -9 losing up to 1 s of broker state is the realistic case.
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            self.extra_conf,
            # last, as mosquitto.conf(5) advises: the shipped security settings
            f"include_dir {self.secure_dir.resolve() / 'conf.d'}" if self.secure_dir else "",
        ]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self._write_conf()
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_listening(self.port, timeout)

    def kill(self) -> None:
        """kill -9: no goodbye to clients, no final save."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP for the block, SIGCONT after: the TCP connections stay open but the
        broker answers nothing (a half-open link, as when Wi-Fi silently drops)."""
        assert self.proc is not None and self.proc.poll() is None, "broker not running"
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password and ACL files."""
        assert self.proc is not None and self.proc.poll() is None, "broker not running"
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
