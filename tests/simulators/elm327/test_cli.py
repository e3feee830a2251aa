"""The simulator as a product: `baygate simulate elm327 ...` and `python -m simulators.elm327`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import serial

from simulators.elm327.cli import main
from tests.support.broker import free_port

STARTUP_S = 30


def test_list_profiles_and_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-profiles"]) == 0
    out = capsys.readouterr().out
    assert {line.split(":")[0] for line in out.splitlines()} >= {"petrol-can", "diesel-can", "iso9141-legacy"}
    assert main(["--list-faults"]) == 0
    assert "h1-not-ok" in capsys.readouterr().out
    assert main(["--list-adapters"]) == 0
    names = {line.split(":")[0] for line in capsys.readouterr().out.splitlines()}
    assert names == {
        *("genuine-v1.4b", "genuine-v1.2", "clone-v1.5", "clone-v2.1", "echo-stuck", "headers-refused"),
        *("ble-dribble", "crlf-nul", "stn2120"),
    }


@pytest.mark.parametrize(
    "argv",
    [["--profile", "no-such-car"], ["--fault", "meteor"], ["--tcp", "localhost"], ["--adapter", "elm999"]],
)
def test_bad_options_exit_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "elm327 simulator:" in capsys.readouterr().err


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def start(procs: list[subprocess.Popen[str]], *args: str) -> str:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    procs.append(proc)
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def test_baygate_simulate_elm327_over_tcp(spawn: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    banner = start(
        spawn, "-m", "agent", "simulate", "elm327", "--tcp", f"127.0.0.1:{port}", "--profile", "diesel-can"
    )
    assert banner.endswith(f"tcp://127.0.0.1:{port}")
    with serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=STARTUP_S) as link:
        link.write(b"ATE0\r")
        assert link.read_until(b">") == b"ATE0\rOK\r\r>"
        link.write(b"ATSP6\r0902\r")
        assert link.read_until(b">") == b"OK\r\r>"
        reply = link.read_until(b">").decode()
    assert reply.startswith("014\r0: 49 02 01 57 56 47 ")  # W V G


def test_python_m_simulator_over_a_pty(spawn: list[subprocess.Popen[str]]) -> None:
    path = start(spawn, "-m", "simulators.elm327", "--pty", "--profile", "iso9141-legacy", "--fault", "echo")
    assert path.startswith("/dev/pts/")
    with serial.serial_for_url(path, timeout=STARTUP_S) as link:
        link.write(b"ATE0\r")
        assert link.read_until(b">") == b"ATE0\rOK\r\r>"
        link.write(b"ATI\r")
        assert link.read_until(b">") == b"ATI\rELM327 v1.5\r\r>"  # the echo fault keeps echo on
