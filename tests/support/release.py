"""The release script under test: a stand-in `systemctl` (the lowest layer: it runs
the installed unit's ExecStart) and real wheelhouses of the project at a given version.
Shared by tests/systemd/test_release.py and test_upgrade_e2e.py (fixtures: conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

__all__ = ["FAKE_SYSTEMCTL", "REPO", "SCRIPT", "current", "health_version", "real_wheelhouse", "release"]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "systemd" / "baygate-release.sh"

# What systemd does with the unit, for the parts the script relies on. ExecStart's
# absolute paths are moved under BAYGATE_ROOT; the process runs detached and is
# "active" while it lives (Type=notify's READY is checked through /health instead).
FAKE_SYSTEMCTL = r"""#!{python}
import os, re, signal, subprocess, sys, time
from pathlib import Path
root = Path(os.environ["BAYGATE_ROOT"])
pidfile, logfile = root / "baygate.pid", root / "baygate.log"
args = [a for a in sys.argv[1:] if a != "--quiet"]
with open(os.environ["LOG"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
units = [a for a in args[1:] if not a.startswith("-")]
if units and units != ["baygate.service"]:
    sys.exit(0)  # the upgrade path unit: tests play it themselves (test_upgrade_e2e.py)

def alive():
    try:
        pid = int(pidfile.read_text())
        state = Path(f"/proc/{{pid}}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return pid if state != "Z" else None

def stop():
    pid = alive()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not alive():
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)

def start():
    unit = (root / "etc/systemd/system/baygate.service").read_text()
    cmd = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    cmd = [str(root) + a if a.startswith(("/opt/", "/etc/")) else a for a in cmd]
    with open(logfile, "ab") as log:
        try:
            p = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        except OSError as exc:  # systemd: "Failed to start baygate.service", exit 1
            print(f"Failed to start baygate.service: {{exc}}", file=sys.stderr)
            sys.exit(1)
    pidfile.write_text(str(p.pid))

verb = args[0]
if verb in ("restart", "start") or args[:2] == ["enable", "--now"]:
    stop(); start()
elif verb == "stop":
    stop()
elif verb == "is-active":
    sys.exit(0 if alive() else 3)
sys.exit(0)
"""


def _build_project_wheel(tmp: Path, dest: Path, version: str, broken: bool = False) -> None:
    """The project's wheel at `version`; `broken` makes a release whose agent cannot start
    (a missing dependency at import), as a bad build would."""
    src = tmp / f"src-{version}"
    # Every file of the working tree git would commit: the wheel is built as a release
    # would be, so a package pyproject.toml forgets to include is missed here too.
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if name.startswith(("tests/", "bench/")) or not (REPO / name).is_file():
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    py = src / "pyproject.toml"
    py.write_text(py.read_text().replace('version = "0.1.0"', f'version = "{version}"', 1))
    init = src / "agent/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    if broken:
        run = src / "agent/cli/run.py"
        run.write_text(
            run.read_text().replace(
                "import argparse\n", "import argparse\nimport baygate_missing_dependency  # noqa\n", 1
            )
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "-w", str(dest), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip


def real_wheelhouse(tmp: Path, locked: Path, version: str, broken: bool = False) -> Path:
    wh = tmp / f"wh-{version}"
    wh.mkdir()
    for whl in locked.glob("*.whl"):
        (wh / whl.name).symlink_to(whl)
    shutil.copy(REPO / "locks/runtime.txt", wh / "requirements.txt")
    _build_project_wheel(tmp, wh, version, broken)
    return wh


def release(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )


def current(env: dict[str, str]) -> str:
    return os.readlink(Path(env["BAYGATE_ROOT"]) / "opt/baygate/current")


def health_version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return str(json.load(r)["version"])
