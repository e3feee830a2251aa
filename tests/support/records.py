"""What the reference backend stored, as the JSON records the agent sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync.store import open_store

__all__ = ["backend_records"]


def backend_records(db: Path, agent: str) -> list[dict[str, Any]]:
    store = open_store(str(db))
    try:
        return [json.loads(p) for (_, _, _, _, p) in store.records(agent) if p is not None]
    finally:
        store.close()
