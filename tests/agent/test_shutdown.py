"""A failed task never leaves the agent hanging in shutdown, and signals work while
it stops: the real runtime in a process (tests/support/failing_agent.py), with a task
stuck in a blocking thread and one that ignores cancellation, watched through a real
sd_notify socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def start(tmp_path: Path, broker: Broker, mode: str, bound_s: float) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f'[agent]\nshop_id = "s"\nagent_id = "a"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nurl = "{broker.url}"\n'
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "200000",  # ping every 0.1 s
    }
    env.pop("WATCHDOG_PID", None)
    with (tmp_path / "stderr.log").open("wb") as log:  # a file: a pipe could fill and block
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.failing_agent", str(cfg), mode, str(bound_s)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def messages(sock: socket.socket, proc: subprocess.Popen[bytes]) -> list[str]:
    got: list[str] = []
    while proc.poll() is None:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def test_a_failed_task_ends_the_process_non_zero_within_the_bound(
    broker: Broker, tmp_path: Path, notify_socket: socket.socket
) -> None:
    proc = start(tmp_path, broker, "fail", bound_s=3.0)
    try:
        got = messages(notify_socket, proc)
        rc = proc.wait(timeout=60)  # before the fix: hung for good in the executor join
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "stderr.log").read_text()
    assert rc == 1, err
    assert "pipeline 2 failed: RuntimeError: poison" in err
    assert "did not finish within 3s: exiting now" in err  # the stuck thread could not stop
    assert "Traceback" not in err.splitlines()[-1]  # the last word is one clear line
    assert got.count("READY=1") == 1 and "WATCHDOG=1" in got
    stop = got.index("STOPPING=1")
    assert "WATCHDOG=1" not in got[stop:]  # the watchdog stopped pinging


def test_a_second_sigterm_while_stuck_in_shutdown_exits_at_once(
    broker: Broker, tmp_path: Path, notify_socket: socket.socket
) -> None:
    proc = start(tmp_path, broker, "stuck", bound_s=600.0)
    try:
        while "READY=1" not in (notify_socket.recv(4096).decode() if _readable(notify_socket) else ""):
            assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # starts a shutdown that cannot finish by itself
        while "STOPPING=1" not in (notify_socket.recv(4096).decode() if _readable(notify_socket) else ""):
            assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)  # far below the 600 s bound: the second signal did it
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "stderr.log").read_text()
    assert rc == 1, err
    assert "SIGTERM during shutdown (SIGTERM): exiting now" in err


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0.2)[0])
