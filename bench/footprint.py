"""What `baygate run` costs a Pi in an empty bay, measured on the whole process.

Two agents in one run, the same config but for the camera (the baseline has none):
- start to READY: from spawn until /health answers;
- CPU over an idle window (% of one core, from /proc/PID/stat utime+stime);
- RSS after the settle time (/proc/PID/status VmRSS);
and, for the camera agent, scan-to-record latency: the MJPEG camera switches from an
empty wall to a QR job ticket and the clock runs until the agent logs the committed
scan record. The camera is a real MJPEG-over-HTTP stream (the `http://` source path a
shop's IP camera takes), served by this script from frames of the camera simulator.

    python bench/footprint.py [--quick]      # quick: 10 s settle, 10 s idle window
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402 - after sys.path
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from simulators.camera.scenes import make_scene  # noqa: E402
from tests.support.broker import Broker, free_port  # noqa: E402

SIZE = (1280, 720)
FPS = 15
TICKS = os.sysconf("SC_CLK_TCK")


class Camera:
    """An MJPEG camera showing an empty wall (with sensor noise) until `show()`."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        wall = np.full((SIZE[1], SIZE[0], 3), 105, np.uint8)
        noisy = [np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8) for _ in range(8)]
        self.empty = [cv2.imencode(".jpg", f)[1].tobytes() for f in noisy]
        qr = make_scene("qrcode", "clean", 31, SIZE).image
        self.label = cv2.imencode(".jpg", qr)[1].tobytes()
        self.shown_at: float | None = None
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                n = 0
                with contextlib.suppress(OSError):
                    while True:
                        jpg = cam.label if cam.shown_at is not None else cam.empty[n % len(cam.empty)]
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpg)}\r\n\r\n"
                        self.wfile.write(head.encode() + jpg + b"\r\n")
                        n += 1
                        time.sleep(1 / FPS)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"

    def show(self) -> None:
        self.shown_at = time.time()

    def close(self) -> None:
        self.server.shutdown()


def config(tmp: Path, name: str, broker: Broker, api_port: int, camera: str | None) -> Path:
    lines = [
        "[agent]", 'shop_id = "bench"', f'agent_id = "{name}"', f'state_dir = "{tmp / name}"',
        "[enrich]", "enabled = false",
        "[mqtt]", f'url = "{broker.url}"',
        "[api]", f"port = {api_port}",
    ]  # fmt: skip
    if camera:
        lines += ["[[cameras]]", 'name = "bay-cam"', f'source = "{camera}"', f"fps = {FPS}"]
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def agent(cfg: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "--config", str(cfg), "--log-json", "run"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(  # noqa: PLR0917 - one bench step, its knobs
    tmp: Path, name: str, broker: Broker, settle_s: float, idle_s: float, cam: Camera | None
) -> dict[str, object]:
    port = free_port()
    log = tmp / f"{name}.log"
    with agent(config(tmp, name, broker, port, cam.url if cam else None), log) as proc:
        t0 = time.monotonic()
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code in (200, 503):
                    break
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited: {log.read_text()[-2000:]}")
            time.sleep(0.02)
        ready_s = time.monotonic() - t0
        time.sleep(settle_s)
        c0, w0 = cpu_s(proc.pid), time.monotonic()
        time.sleep(idle_s)
        cpu_pct = 100 * (cpu_s(proc.pid) - c0) / (time.monotonic() - w0)
        out: dict[str, object] = {
            "ready_s": round(ready_s, 2),
            "idle_cpu_pct": round(cpu_pct, 1),
            "rss_mb": round(rss_mb(proc.pid), 1),
        }
        if cam is not None:
            cam.show()
            latency = None
            deadline = time.monotonic() + 20
            while latency is None and time.monotonic() < deadline:
                time.sleep(0.05)
                for line in log.read_text(errors="replace").splitlines():
                    if '"baygate.scan"' in line and "job_ticket" in line:
                        rec = json.loads(line)
                        t = time.mktime(time.strptime(rec["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                        latency = t + int(rec["ts"][20:23]) / 1000 - (cam.shown_at or 0)
                        break
            out["scan_to_record_s"] = None if latency is None else round(latency, 2)
    return out


def _met(cam: dict[str, object]) -> bool:
    """Issue 12: an empty bay costs <= 5 % of one core here; a label is read in <= 0.5 s."""
    cpu, latency = cam["idle_cpu_pct"], cam.get("scan_to_record_s")
    return isinstance(cpu, float) and cpu <= 5.0 and isinstance(latency, float) and latency <= 0.5


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10 s settle, 10 s idle (default: 60 s and 30 s)")
    args = p.parse_args()
    settle, idle = (10.0, 10.0) if args.quick else (60.0, 30.0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = Broker(workdir=tmp / "mosquitto")
        broker.start()
        cam = Camera()
        try:
            base = measure(tmp, "no-camera", broker, settle, idle, None)
            print("== without a camera (baseline):", json.dumps(base), flush=True)
            with_cam = measure(tmp, "camera", broker, settle, idle, cam)
            print("== with a camera, empty bay:", json.dumps(with_cam), flush=True)
        finally:
            cam.close()
            broker.stop()
    result = {
        "bench": "footprint", "quick": args.quick, "settle_s": settle, "idle_s": idle,
        "baseline": base, "camera": with_cam,
        "targets_met": _met(with_cam),
    }  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
