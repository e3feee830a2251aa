"""Remote configuration, device-twin style: the backend's desired settings, the agent's
reported answer.

The backend sends `{"version": V, "toml": TEXT}`: the keys to set, written exactly as
in `/etc/baygate/agent.toml`. The agent

1. parses TEXT (bounded: 64 KiB) and refuses keys that must stay local — `[agent]`
   (the identity on the wire), `[mqtt]` (the link that carries this very command: a
   bad push there would cut the Pi off for good) and `[api]` (the health endpoint the
   upgrade script's health gate reads);
2. merges it over the local file (which stays the base) and validates the result
   exactly like a local file, so an error names the key (`obd.telemetry_hz: …`);
3. applies it by restarting the pipelines, not the process: the outbox and the link
   stay up, so no record is lost or held back;
4. keeps the last good remote layer under the state dir (/etc is read-only under the
   unit's ProtectSystem=strict) so a restart comes back with it;
5. rolls back to the previous layer when health fails within the grace period.

The answer is one of `applied`, `unchanged`, `rejected` (with the error) or
`rolled_back` (with why). Sans-IO except the two small files it owns.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.config import Config, merge_tables, parse_config
from agent.errors import ConfigError
from untrusted import TooDeepError, check_depth

__all__ = [
    "LOCAL_ONLY",
    "MAX_REMOTE_TOML",
    "Answer",
    "RemoteLayer",
    "RemoteStore",
    "effective_config",
    "parse_remote",
]

LOCAL_ONLY = ("agent", "mqtt", "api")
MAX_REMOTE_TOML = 48 * 1024  # inside a command of at most 64 KiB (sync/commands.py)
_VERSION_MAX = 64

Outcome = Literal["applied", "unchanged", "rejected", "rolled_back"]


@dataclass(frozen=True)
class RemoteLayer:
    """What the backend asked for: a version label and the settings it sets."""

    version: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    version: str
    status: Outcome
    error: str | None = None
    remote_keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "remote_keys": list(self.remote_keys),
        }


def parse_remote(version: str, text: str) -> RemoteLayer:
    """The remote layer, or ConfigError naming what is wrong with it."""
    if not version or len(version) > _VERSION_MAX or not version.isprintable():
        raise ConfigError("version", f"must be 1..{_VERSION_MAX} printable characters")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_REMOTE_TOML:
        raise ConfigError("", f"remote config larger than {MAX_REMOTE_TOML} bytes")
    try:
        # Untrusted input: tomllib recurses once per nested array or inline table, and
        # ~1,000 levels (a few kB) raise RecursionError (issue 10). No config nests past 4.
        check_depth(text.encode("utf-8", "surrogatepass"), 16, "remote config")
        settings = tomllib.loads(text)
    except TooDeepError as exc:
        raise ConfigError("", str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"remote config is not valid TOML: {exc}") from None
    for key in LOCAL_ONLY:
        if key in settings:
            raise ConfigError(key, "is set in the local file only, never remotely")
    return RemoteLayer(version, settings)


def keys_of(settings: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    """Dotted names of every leaf the layer sets (what `doctor` shows as remote)."""
    out: list[str] = []
    for k, v in settings.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(keys_of(v, name + "."))
        else:
            out.append(name)
    return tuple(sorted(out))


def effective_config(local: Config, layer: RemoteLayer | None) -> Config:
    """The local file with the remote layer over it, validated like a local file.
    Tables merge key by key; arrays (cameras, dongles) are replaced whole."""
    if layer is None:
        return local
    base = local.model_dump(mode="json")
    return parse_config(merge_tables(base, layer.settings))


class RemoteStore:
    """The last good remote layer under the state dir, written atomically (temp file,
    fsync, rename) so a power cut leaves the old layer or the new one, never half."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "remote-config.json"

    def load(self) -> RemoteLayer | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return RemoteLayer(str(data["version"]), dict(data["settings"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(str(self.path), f"kept remote config unreadable: {exc}") from None

    def save(self, layer: RemoteLayer | None) -> None:
        if layer is None:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": layer.version, "settings": layer.settings}, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
