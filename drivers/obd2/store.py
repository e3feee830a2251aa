"""What we remember per dongle between connections: protocol, adapter quirks, ECUs.

A dongle seen before connects in a fraction of the time: no 1 s `ATZ`, no protocol
search (`ATSP0` tries each protocol in turn, seconds on a non-CAN car), and the
expected-response count is known for the very first `0100`. The store is injected:
the agent gives a JSON file in its state dir, tests use memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["DongleMemory", "DongleStore", "JsonFileStore", "MemoryStore"]


@dataclass
class DongleMemory:
    protocol: str | None = None  # ELM protocol number, "6" = ISO 15765-4 CAN 11/500
    version: str = ""  # ATZ/ATI banner, e.g. "ELM327 v1.5"
    quirks: list[str] = field(default_factory=list)
    pids_0100: str = ""  # hex of the 0100 replies, to tell the same car from another
    supported: dict[str, list[int]] = field(default_factory=dict)  # ECU -> Mode 01 PIDs
    refused: list[str] = field(default_factory=list)  # optional AT commands refused (adapter.py)
    adapter: str = ""  # "elm327", "stn", "clone" (adapter.identify)
    responders: int = 0  # ECUs that answered 0100 (the headerless count digit)


class DongleStore(Protocol):
    def get(self, dongle: str) -> DongleMemory | None: ...

    def put(self, dongle: str, memory: DongleMemory) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, DongleMemory] = {}

    def get(self, dongle: str) -> DongleMemory | None:
        return self._data.get(dongle)

    def put(self, dongle: str, memory: DongleMemory) -> None:
        self._data[dongle] = memory


class JsonFileStore:
    """One small JSON file; written atomically (temp file + rename). Blocking: call from a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # missing or corrupt: a cache, so start over rather than fail
        return data if isinstance(data, dict) else {}

    def get(self, dongle: str) -> DongleMemory | None:
        raw = self._load().get(dongle)
        if not isinstance(raw, dict):
            return None
        try:
            return DongleMemory(**raw)  # type: ignore[arg-type]
        except TypeError:
            return None

    def put(self, dongle: str, memory: DongleMemory) -> None:
        data = self._load()
        data[dongle] = asdict(memory)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".dongles-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
