"""`baygate run` as a process on simulators, with its bay screen: for the browser tests
and bench/ui.py. The ELM327 simulator runs as its own process (`python -m
simulators.elm327 --tcp`), the camera is the built-in `sim:` source, NHTSA is the fake
vPIC + recalls server; MQTT is a real broker when given, else an unreachable port (the
outbox keeps every row, which is what the bench reads commit times from)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from agent.config import SHIPPED_MANUFACTURERS
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp
from tests.support.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
VIN = "1FTFW1ET9DFC10312"  # the petrol-can profile's car
BAY = "bay-7"


@dataclass
class BayAgent:
    base: str  # http://127.0.0.1:PORT
    state: Path
    log: Path
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]
    elm_port: int

    def clear_codes_on_the_car(self) -> None:
        """Mode 04 from another client, as a technician's own scan tool would (the
        simulator's connections share one car)."""
        with socket.create_connection(("127.0.0.1", self.elm_port), 5) as s:
            s.settimeout(5)
            reply = b""
            s.sendall(b"04\r")
            while not reply.endswith(b">"):
                chunk = s.recv(256)
                if not chunk:
                    break
                reply += chunk
            assert b"44" in reply, reply

    def url(self, page: str, *, token: str = "act") -> str:
        return f"{self.base}/ui/{page}?token={self.tokens[token]}"


def _wait_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port} after {seconds} s")


def _stop(proc: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def bay_agent(
    tmp: Path,
    *,
    mqtt_url: str | None = None,
    camera: str | None = "sim:qrcode",
    env: dict[str, str] | None = None,
) -> Iterator[BayAgent]:
    elm_port, api_port = free_port(), free_port()
    elm = subprocess.Popen(
        [sys.executable, "-m", "simulators.elm327", "--tcp", f"127.0.0.1:{elm_port}",
         "--profile", "petrol-can"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_port(elm_port, 30)
        with ServiceServer(NhtsaApp()) as nhtsa:
            cfg = tmp / "agent.toml"
            cam = ["[[cameras]]", 'name = "sim-cam"', f'source = "{camera}"', "width = 640", "height = 480"]
            cameras = cam if camera else []
            cfg.write_text(
                "\n".join([
                    "[agent]", 'shop_id = "shop-demo"', f'agent_id = "{BAY}"',
                    f'state_dir = "{tmp / "state"}"',
                    "[obd]", "telemetry_hz = 2.0",
                    "[[obd.dongles]]", 'name = "sim-dongle"', f'url = "tcp://127.0.0.1:{elm_port}"',
                    *cameras,
                    "[enrich]", f'manufacturers_dir = "{SHIPPED_MANUFACTURERS}"',
                    "[enrich.nhtsa]", f'vpic_url = "{nhtsa.url}api/vehicles/"',
                    f'recalls_url = "{nhtsa.url}"',
                    "[mqtt]", f'url = "{mqtt_url or f"mqtt://127.0.0.1:{free_port()}"}"',
                    "[api]", f"port = {api_port}",
                ]) + "\n"
            )  # fmt: skip
            log = tmp / "agent.log"
            fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=fd,
                env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"} | (env or {}),
            )  # fmt: skip
            os.close(fd)
            try:
                base = f"http://127.0.0.1:{api_port}"
                deadline = time.monotonic() + 60
                while True:
                    if proc.poll() is not None:
                        raise AssertionError(f"agent exited {proc.returncode}: {log.read_text()[-2000:]}")
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise AssertionError("agent did not answer /health in 60 s")
                    time.sleep(0.1)
                token_file = tmp / "state" / "ui-tokens.json"  # absent when [ui] is disabled
                tokens = json.loads(token_file.read_text()) if token_file.exists() else {}
                yield BayAgent(base, tmp / "state", log, proc, tokens, elm_port)
            finally:
                _stop(proc)
    finally:
        _stop(elm, 5)
