"""A secret from the config: given inline, as `file:/path` (relative to
`$CREDENTIALS_DIRECTORY` for systemd `LoadCredential=`) or as `env:NAME`; read at use
time, so a rotated file is picked up, and never shown: `repr`, logs and `model_dump`
give only the reference (`file:...`, `env:...` or `inline`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PlainSerializer

from agent.errors import ConfigError

__all__ = ["Secret", "SecretStr", "to_secret"]


class Secret:
    """A secret given inline, as `file:/path` or as `env:NAME`. Never shown in logs."""

    __slots__ = ("_key", "_ref")

    def __init__(self, ref: str, key: str = "") -> None:
        self._ref = ref
        self._key = key  # the dotted config key, so an unreadable secret names it

    def reveal(self) -> str:
        """The secret's value, read now (files are re-read so rotation works)."""
        if self._ref.startswith("file:"):
            path = Path(self._ref[5:])
            creds = os.environ.get("CREDENTIALS_DIRECTORY")
            if not path.is_absolute() and creds:
                path = Path(creds) / path  # systemd LoadCredential=
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise ConfigError(self._key, f"secret file {path} cannot be read: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigError(self._key, f"secret file {path} is not UTF-8 text") from None
        if self._ref.startswith("env:"):
            name = self._ref[4:]
            if name not in os.environ:
                raise ConfigError(self._key, f"secret environment variable {name} is not set")
            return os.environ[name]
        return self._ref

    @property
    def reference(self) -> str:
        """Where the secret comes from, safe to show (`file:...`, `env:...` or `inline`)."""
        return self._ref if self._ref.startswith(("file:", "env:")) else "inline"

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._ref == self._ref

    def __hash__(self) -> int:
        return hash(self._ref)


def to_secret(v: Any, key: str = "") -> Secret:
    """A config value as a Secret; `key` is the dotted config key its errors name."""
    if isinstance(v, Secret):
        return v
    if not isinstance(v, str) or not v:
        raise ValueError("expected a non-empty string (inline, 'file:/path' or 'env:NAME')")
    return Secret(v, key)


SecretStr = Annotated[
    Secret,
    Field(json_schema_extra={"type": "string"}),
    PlainSerializer(lambda s: s.reference, return_type=str),
]
