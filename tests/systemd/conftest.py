"""Fixtures of the release-script tests: the locked wheels (built once per session,
served from pip's cache once fetched) and an environment rooted in a temp directory
with the stand-in systemctl (tests/support/release.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.release import FAKE_SYSTEMCTL, REPO


@pytest.fixture(scope="session")
def locked_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("locked")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
         "--require-hashes", "-r", str(REPO / "locks/runtime.txt"), "-w", str(d)],
        check=True, capture_output=True,
    )  # fmt: skip
    return d


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    root = tmp_path / "root"
    root.mkdir()
    fake = tmp_path / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL.format(python=sys.executable))
    fake.chmod(0o755)
    e = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BAYGATE__")},
        "BAYGATE_ROOT": str(root),
        "SYSTEMCTL": str(fake),
        "HEALTH_TIMEOUT_S": "40",
        "KEEP": "2",
        "PYTHON": sys.executable,
        "LOG": str(tmp_path / "systemctl.log"),
    }
    yield e
    subprocess.run([str(fake), "stop", "baygate.service"], env=e, check=False)
