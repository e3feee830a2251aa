"""Upgrades ordered by the backend: the agent's unprivileged half.

The agent runs as `baygate` with /opt and /etc read-only (systemd/baygate.service), so
it cannot install a release, and it must not: the install restarts it. It only stages:

1. `order` (the signed `upgrade` command) validates the version, answers `accepted`
   with an id at once (a download of a few hundred MB outlives any command timeout) and
   queues the order for `run`; a second order while one is staged or pending is `busy`;
   the version already running is `current`; an older release number is `rejected`
   (a replayed old order cannot downgrade a Pi).
2. `run` (a task in the runtime's TaskGroup) fetches, verifies and unpacks the tarball
   in a worker thread (`upgrade_stage.py`) into `<state_dir>/upgrades/VERSION/`, then
   writes `<state_dir>/upgrades/request` atomically (temp file, fsync, rename): `{"id",
   "version"}` and nothing else, so the privileged side derives the directory itself and
   never follows a path the agent chose. A refused order is written to `result.json` as
   `refused` with the reason, nothing staged.
3. `systemd/baygate-upgrade.path` sees the request and starts the root oneshot
   `baygate-upgrade.service`: `baygate-release.sh apply-request`, the health-gated
   upgrade with automatic rollback, which restarts this agent and writes `result.json`
   (`ok`, `rolled_back` or `failed`, with the id, the versions and the script's output).
4. `report` (the `upgrade-status` command) answers the running version, what is staged
   or pending, and `result.json`: after the restart this is how the backend hears the
   outcome (`baygate fleet upgrade` polls it, matching the id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import UpgradeError
from agent.service.upgrade_stage import VERSION_PATTERN, check_wheelhouse, fetch, unpack
from untrusted import UntrustedInputError, parse_object

__all__ = ["MAX_WHEELHOUSE_BYTES", "Order", "Upgrader", "read_result", "write_json"]

log = logging.getLogger("baygate.upgrade")

# The locked runtime set plus our wheel is a 153 MB tarball on x86_64 (measured by
# tests/systemd/test_upgrade_e2e.py; opencv, onnxruntime and numpy are most of it):
# 512 MiB leaves 3x room. Staged twice over (the tarball, then unpacked; the tarball is
# removed right after), so the state dir needs up to twice the tarball free.
MAX_WHEELHOUSE_BYTES = 512 * 1024 * 1024
MAX_RESULT_BYTES = 64 * 1024
_VERSION = re.compile(VERSION_PATTERN)


@dataclass(frozen=True)
class Order:
    id: str
    version: str
    url: str
    sha256: str


def _release(version: str) -> tuple[int, ...]:
    """The leading release numbers (`1.10.2` of `1.10.2rc1+pi`), compared as numbers."""
    m = re.match(r"[0-9]+(?:\.[0-9]+)*", version)
    return tuple(int(x) for x in m.group(0).split(".")) if m else ()


def write_json(path: Path, body: dict[str, Any]) -> None:
    """Atomically: a power cut leaves the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def read_result(path: Path) -> dict[str, Any] | None:
    """result.json (written by root or by us): bounded, as outside input."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"status": "unreadable", "error": str(exc)}
    try:
        return parse_object(raw, max_bytes=MAX_RESULT_BYTES, max_depth=4, what="upgrade result")
    except UntrustedInputError as exc:
        return {"status": "unreadable", "error": str(exc)}


class Upgrader:
    def __init__(
        self,
        state_dir: Path,
        running: str,
        *,
        max_bytes: int = MAX_WHEELHOUSE_BYTES,
        fetch_timeout_s: float = 30.0,
        min_free_bytes: int = 0,
        on_result: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        poll_s: float = 30.0,
    ) -> None:
        """`on_result` hears each result once (kept across restarts in announced.json):
        the runtime turns it into an alert record, so the backend learns the outcome
        through the durable stream even when no CLI is waiting. `poll_s`: how often
        result.json is looked at while the agent runs (a failed build does not restart
        it; 30 s of a small stat)."""
        self.dir = state_dir / "upgrades"
        self.running = running
        self.max_bytes = max_bytes
        self.fetch_timeout_s = fetch_timeout_s
        self.min_free_bytes = min_free_bytes
        self._on_result = on_result
        self.poll_s = poll_s
        self._queue: asyncio.Queue[Order] = asyncio.Queue(1)
        self._staging: Order | None = None

    @property
    def request_path(self) -> Path:
        return self.dir / "request"

    @property
    def result_path(self) -> Path:
        return self.dir / "result.json"

    def order(self, version: str, url: str, sha256: str) -> dict[str, Any]:
        """The immediate answer to an `upgrade` command."""
        if not _VERSION.match(version):
            why = f"version must match {VERSION_PATTERN}"
            return {"status": "rejected", "version": version, "error": why}
        if version == self.running:
            return {"status": "current", "version": version}
        if _release(version) < _release(self.running):
            # A captured order replayed later must not bring back an old (perhaps
            # vulnerable) release; going back is `baygate-release.sh rollback` on the Pi.
            why = f"{version} is older than the running {self.running}: downgrades are refused"
            return {"status": "rejected", "version": version, "error": why}
        pending = self._pending()
        if self._staging is not None or pending is not None:
            busy = self._staging.version if self._staging else pending
            return {"status": "busy", "version": version, "error": f"upgrade to {busy} already under way"}
        o = Order(secrets.token_hex(8), version, url, sha256.lower())
        self._staging = o
        self._queue.put_nowait(o)  # never full: one order at a time (_staging)
        log.info("upgrade %s to %s accepted: fetching %s", o.id, version, url)
        return {"status": "accepted", "version": version, "id": o.id, "from": self.running}

    def report(self) -> dict[str, Any]:
        """The answer to `upgrade-status`."""
        return {
            "version": self.running,
            "staging": self._staging.id if self._staging else None,
            "pending": self._pending(),
            "result": read_result(self.result_path),
        }

    async def run(self) -> None:
        """Stage each accepted order, one at a time, forever."""
        while True:
            await self.announce()
            try:
                async with asyncio.timeout(self.poll_s):
                    o = await self._queue.get()
            except TimeoutError:
                continue
            try:
                await asyncio.to_thread(self.stage, o)
                log.info("upgrade %s to %s staged: %s written", o.id, o.version, self.request_path)
            except UpgradeError as exc:
                log.warning("upgrade %s to %s refused: %s", o.id, o.version, exc)
                await asyncio.to_thread(self._refused, o, str(exc))
            finally:
                self._staging = None

    async def announce(self) -> None:
        """Hand a result not yet announced to `on_result`, once."""
        if self._on_result is None:
            return
        result = await asyncio.to_thread(read_result, self.result_path)
        rid = (result or {}).get("id")
        if result is None or not isinstance(rid, str):
            return
        marker = self.dir / "announced.json"
        seen = await asyncio.to_thread(read_result, marker)
        if seen is not None and seen.get("id") == rid:
            return
        await self._on_result(result)
        await asyncio.to_thread(write_json, marker, {"id": rid})

    def stage(self, o: Order) -> None:
        """Blocking: fetch, verify, unpack, check, then the request. UpgradeError leaves
        nothing of this version behind."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tar, wh = self.dir / f"{o.version}.tar", self.dir / o.version
        for leftover in (tar, wh):  # an earlier attempt cut short (power, kill -9)
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        try:
            fetch(o.url, tar, sha256=o.sha256, max_bytes=self.max_bytes, timeout_s=self.fetch_timeout_s,
                  min_free_bytes=self.min_free_bytes)  # fmt: skip
            unpack(tar, wh, max_bytes=self.max_bytes)
            tar.unlink()
            check_wheelhouse(wh, o.version)
            write_json(self.request_path, {"id": o.id, "version": o.version})
        except UpgradeError:
            tar.unlink(missing_ok=True)
            shutil.rmtree(wh, ignore_errors=True)
            raise
        except OSError as exc:  # the state dir itself: full disk, permissions
            tar.unlink(missing_ok=True)
            shutil.rmtree(wh, ignore_errors=True)
            raise UpgradeError(f"cannot stage under {self.dir}: {exc}") from None

    def _refused(self, o: Order, why: str) -> None:
        body = {"id": o.id, "version": o.version, "status": "refused", "from": self.running,
                "detail": why, "finished": round(time.time(), 3)}  # fmt: skip
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json(self.result_path, body)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.result_path, exc)

    def _pending(self) -> str | None:
        """The version of a request written and not yet done: waiting for the privileged
        unit (`request`) or being installed by it (`request.taken`, removed at the end)."""
        for path in (self.request_path, self.dir / "request.taken"):
            body = read_result(path)
            if body is not None:
                return str(body.get("version", "?"))
        return None
