"""Disk pressure on the outbox's filesystem: how much room is left, and a reserve.

Two thresholds on the free space of the state dir's filesystem decide a level:
`ok`, `low` (below `low_bytes`: shed telemetry) and `critical` (below
`critical_bytes`: refuse new scans). Free space counts what the filesystem reports
plus the outbox's free pages: SQLite never gives a deleted row's pages back to the
filesystem, it reuses them, so after the backend's acks delete rows the file does
not shrink but the room inside it is real.

The reserve is a ballast file (`reserve_bytes`, preallocated) next to the outbox.
When SQLite reports the disk full (SQLITE_FULL), releasing it makes room for what
must still be written on a full disk: the alert that says so, the link's session
counter and birth (the link writes before it connects, so without room it never
connects and never receives the acks that would free space), and the deletes those
acks cause (in WAL mode a DELETE writes pages too). It is allocated again once the
level is back to `ok`. The level is computed as if the reserve were still held, so
releasing it does not make the disk look healthy.

Sans-IO apart from statvfs and the ballast file; `statvfs` is injected for tests.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskGuard", "DiskLevel", "DiskLimits", "DiskState"]

log = logging.getLogger("baygate.sync.disk")

RESERVE_NAME = "outbox.reserve"
_CHUNK = 1 << 20
_HYSTERESIS = 0.1


class DiskLevel(enum.IntEnum):
    OK = 0
    LOW = 1  # shed telemetry
    CRITICAL = 2  # refuse new scans too


@dataclass(frozen=True)
class DiskLimits:
    low_bytes: int = 64 << 20
    critical_bytes: int = 16 << 20
    reserve_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        if not 0 <= self.critical_bytes <= self.low_bytes or self.reserve_bytes < 0:
            raise ValueError("disk limits need 0 <= critical <= low and reserve >= 0")


@dataclass(frozen=True)
class DiskState:
    level: DiskLevel
    free_bytes: int  # filesystem + outbox free pages, as if the reserve were held
    reserve_held: bool

    def describe(self, limits: DiskLimits) -> str:
        mb = self.free_bytes / (1 << 20)
        if self.level is DiskLevel.CRITICAL:
            return (
                f"disk critical: {mb:.1f} MiB free < {limits.critical_bytes / (1 << 20):.0f} MiB: "
                "new scans refused, telemetry shed, waiting for backend acks to free space"
            )
        if self.level is DiskLevel.LOW:
            return f"disk low: {mb:.1f} MiB free < {limits.low_bytes / (1 << 20):.0f} MiB: telemetry shed"
        return f"{mb:.1f} MiB free"


class DiskGuard:
    def __init__(
        self,
        directory: Path,
        limits: DiskLimits | None = None,
        *,
        statvfs: Callable[[Path], os.statvfs_result] = os.statvfs,
    ) -> None:
        self.directory = Path(directory)
        self.limits = limits or DiskLimits()
        self.reserve_path = self.directory / RESERVE_NAME
        self._statvfs = statvfs
        self.state = DiskState(DiskLevel.OK, 0, False)  # a placeholder until `measured`
        self.measured = False  # the monitor's first look (once a second) has happened
        self.released = 0  # times the reserve was given up (SQLITE_FULL)

    def fs_free(self) -> int:
        st = self._statvfs(self.directory)
        return int(st.f_bavail) * int(st.f_frsize)

    def held(self) -> int:
        """Bytes the reserve file holds now."""
        try:
            return self.reserve_path.stat().st_size
        except OSError:
            return 0

    def measure(self, outbox_free: int = 0) -> DiskState:
        """The level now, given the outbox's free pages (`Outbox.free_bytes`)."""
        held = self.held()
        missing = max(0, self.limits.reserve_bytes - held)  # as if the reserve were held
        free = max(0, self.fs_free() + outbox_free - missing)
        lim, prev = self.limits, self.state.level
        # Hysteresis: a level is left only once free space is 10 % above its
        # threshold, so a disk hovering at a threshold does not flap (an alert record
        # per flip, each one taking a little of the space in question).
        crit_up = lim.critical_bytes * (1 + _HYSTERESIS) if prev >= DiskLevel.CRITICAL else lim.critical_bytes
        low_up = lim.low_bytes * (1 + _HYSTERESIS) if prev >= DiskLevel.LOW else lim.low_bytes
        if free < crit_up:
            level = DiskLevel.CRITICAL
        elif free < low_up:
            level = DiskLevel.LOW
        else:
            level = DiskLevel.OK
        self.state = DiskState(level, free, held >= lim.reserve_bytes)
        self.measured = True
        return self.state

    def ensure_reserve(self) -> bool:
        """Allocate the reserve if it is missing and the filesystem has room to spare
        (twice the reserve); True when it is held. Blocking: call in a thread."""
        want = self.limits.reserve_bytes
        if want == 0 or self.held() >= want:
            return True
        if self.fs_free() < 2 * want:
            return False
        tmp = self.reserve_path.with_suffix(".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                try:
                    os.posix_fallocate(fd, 0, want)
                except OSError:  # filesystems without fallocate: write the zeros
                    zeros = bytes(_CHUNK)
                    for off in range(0, want, _CHUNK):
                        os.pwrite(fd, zeros[: min(_CHUNK, want - off)], off)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.reserve_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.warning("disk reserve %s could not be allocated: %s", self.reserve_path, exc.strerror)
            return False
        return True

    def release(self) -> bool:
        """Give the reserve up (the disk is full); True if that freed anything.
        Thread-safe: called from the outbox's writer thread."""
        try:
            size = self.reserve_path.stat().st_size
            self.reserve_path.unlink()
        except OSError:
            return False
        self.released += 1
        log.error("disk full: released the %d-byte reserve for alerts, acks and the link", size)
        return size > 0
