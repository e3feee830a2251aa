"""Who may look at the bay screen and who may act on it.

Two tokens, made once per agent and kept in the state dir (`ui-tokens.json`, mode 0600):
`view` reads every page; `act` also finishes visits, marks tasks done and (once the
OBD issue wires it) clears codes. `baygate ui url` prints the URL carrying one of
them, and a QR code a tablet scans. The page keeps the token in a same-site cookie
so a cross-site form cannot act with it.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.ui.errors import UiError

__all__ = ["Permission", "Tokens", "load_tokens"]

Permission = Literal["view", "act"]
FILE = "ui-tokens.json"


@dataclass(frozen=True)
class Tokens:
    view: str
    act: str

    def permission(self, presented: str | None) -> Permission | None:
        """What `presented` allows (constant-time comparisons), or None."""
        if not presented:
            return None
        if hmac.compare_digest(presented.encode(), self.act.encode()):
            return "act"
        if hmac.compare_digest(presented.encode(), self.view.encode()):
            return "view"
        return None


def load_tokens(state_dir: Path) -> Tokens:
    """The agent's tokens, made on first use (128 bits each from `secrets`)."""
    path = state_dir / FILE
    try:
        data = json.loads(path.read_text())
        return Tokens(view=str(data["view"]), act=str(data["act"]))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UiError(f"{path} is unreadable ({exc}); delete it to make new tokens") from None
    tokens = Tokens(view=secrets.token_urlsafe(16), act=secrets.token_urlsafe(16))
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made them first: use theirs
        return load_tokens(state_dir)
    except OSError as exc:
        raise UiError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        json.dump({"view": tokens.view, "act": tokens.act}, f)
    return tokens
