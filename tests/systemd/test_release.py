"""baygate-release.sh: install, health-gated upgrade, automatic rollback, pruning.

systemd cannot run here, so `systemctl` is a recording stand-in (the lowest layer);
everything else is real: venvs, pip from a hashed wheelhouse, symlink switches, and a
real HTTP /health server whose answer depends on which release is current.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "systemd" / "baygate-release.sh"


def make_wheel(dest: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel (one module)."""
    dist = f"{name}-{version}"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}_mod.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for fname, text in files.items():
            data = text.encode()
            z.writestr(fname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{fname},sha256={digest},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def wheelhouse(tmp: Path, version: str) -> Path:
    wh = tmp / f"wh-{version}"
    wh.mkdir()
    dep = make_wheel(wh, "baygatedep", "1.0")
    sha = hashlib.sha256(dep.read_bytes()).hexdigest()
    (wh / "requirements.txt").write_text(f"baygatedep==1.0 --hash=sha256:{sha}\n")
    make_wheel(wh, "baygate", version)
    return wh


class Health(http.server.BaseHTTPRequestHandler):
    opt: Path
    bad_version = ""

    def do_GET(self) -> None:
        current = os.readlink(self.opt / "current") if (self.opt / "current").is_symlink() else ""
        status = 503 if current.endswith(self.bad_version) and self.bad_version else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "systemctl.log"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 0\n')
    fake.chmod(0o755)
    Health.opt = root / "opt" / "baygate"
    Health.bad_version = ""
    srv = http.server.HTTPServer(("127.0.0.1", 0), Health)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield {
        **os.environ,
        "BAYGATE_ROOT": str(root),
        "SYSTEMCTL": str(fake),
        "HEALTH_URL": f"http://127.0.0.1:{srv.server_address[1]}/health",
        "HEALTH_TIMEOUT_S": "3",
        "KEEP": "2",
        "PYTHON": sys.executable,
        "LOG": str(log),
    }
    srv.shutdown()
    srv.server_close()


def release(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )


def current(env: dict[str, str]) -> str:
    return os.readlink(Path(env["BAYGATE_ROOT"]) / "opt/baygate/current")


def test_install_upgrade_rollback_and_prune(env: dict[str, str], tmp_path: Path) -> None:
    r = release(env, "install", str(wheelhouse(tmp_path, "1.0.0")))
    assert r.returncode == 0, r.stderr
    assert current(env) == "releases/1.0.0"
    opt = Path(env["BAYGATE_ROOT"]) / "opt/baygate"
    venv_py = opt / "current/bin/python"
    out = subprocess.run(
        [str(venv_py), "-c", "import baygate_mod, baygatedep_mod; print(baygate_mod.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1.0.0"
    assert (Path(env["BAYGATE_ROOT"]) / "etc/systemd/system/baygate.service").exists()

    assert release(env, "upgrade", str(wheelhouse(tmp_path, "1.1.0"))).returncode == 0
    assert current(env) == "releases/1.1.0"

    # 1.2.0 installs fine but never turns healthy: the script must put 1.1.0 back.
    Health.bad_version = "1.2.0"
    r = release(env, "upgrade", str(wheelhouse(tmp_path, "1.2.0")))
    assert r.returncode != 0
    assert "rolling back to 1.1.0" in r.stdout
    assert current(env) == "releases/1.1.0"

    Health.bad_version = ""
    assert release(env, "rollback").returncode == 0
    assert current(env) in ("releases/1.0.0", "releases/1.2.0")
    calls = Path(env["LOG"]).read_text().splitlines()
    assert "enable --now baygate.service" in calls
    assert calls.count("restart baygate.service") >= 3


def test_a_wheelhouse_with_a_tampered_wheel_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    wh = wheelhouse(tmp_path, "1.0.0")
    dep = wh / "baygatedep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(dep, "a") as z:
        z.writestr("evil.py", "print('pwned')\n")
    r = release(env, "install", str(wh))
    assert r.returncode != 0
    assert "hash" in (r.stdout + r.stderr).lower()
    assert not (Path(env["BAYGATE_ROOT"]) / "opt/baygate/current").exists()


def test_usage_errors_are_clear(env: dict[str, str]) -> None:
    r = release(env, "upgrade", "/nonexistent")
    assert r.returncode != 0 and "nothing installed yet" in r.stderr
    r = release(env, "frobnicate")
    assert r.returncode != 0 and "usage" in r.stderr
