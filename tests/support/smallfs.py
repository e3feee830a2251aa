"""A real small filesystem for full-disk tests: tmpfs of a given size, mounted on a
directory and unmounted afterwards.

Tests run as root here and in CI, so `mount -t tmpfs` works; without root the
helper fails with one clear line (a private mount namespace cannot be entered from
inside an already running test process).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = ["fill", "free_bytes", "small_fs"]


@contextlib.contextmanager
def small_fs(path: Path, size_mb: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if res.returncode != 0:
        raise RuntimeError(f"cannot mount a {size_mb} MiB tmpfs on {path} (needs root): {res.stderr.strip()}")
    try:
        yield path
    finally:
        # lazy: a process we killed may still hold a file open for a moment
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave_bytes: int = 0, name: str = "filler.bin") -> Path:
    """Grow (or shrink) `path/name` until the filesystem has about `leave_bytes`
    free (0: until ENOSPC). Returns the filler's path; delete it to give space back."""
    filler = path / name
    have = filler.stat().st_size if filler.exists() else 0
    target = have + free_bytes(path) - leave_bytes
    if target < have:
        os.truncate(filler, max(0, target))
        return filler
    chunk = bytes(64 * 1024)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        size = have
        while leave_bytes == 0 or size < target:
            want = len(chunk) if leave_bytes == 0 else min(len(chunk), target - size)
            try:
                size += os.write(fd, chunk[:want])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if want == 1:
                    break
                chunk = chunk[: max(1, want // 2)]  # the last few pages, smaller writes
    finally:
        os.close(fd)
    return filler
