"""A headless Chromium from Debian's package (`chromium`, installed by
scripts/bootstrap.sh dev), driven by Playwright without downloading a browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium: scripts/bootstrap.sh dev"
    with sync_playwright() as p:
        # --no-sandbox: CI and the dev machines run as root, where Chromium's sandbox refuses.
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
