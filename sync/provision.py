"""The production broker setup: Mosquitto 2 identities, ACLs and per-agent keys.

`baygate broker init --dir DIR` and `baygate broker add-agent --dir DIR SHOP AGENT`
(agent/cli/broker.py) are thin wrappers over this. The directory:

    DIR/mosquitto.conf      listener, persistence, include_dir DIR/conf.d
    DIR/conf.d/security.conf  allow_anonymous false, password_file, acl_file
    DIR/passwd              one line per identity, Mosquitto's $7$ PBKDF2-SHA512 hash
    DIR/acl                 regenerated from the identities on every change
    DIR/backend.password    the backend identity's password (0600)
    DIR/keys/SHOP/AGENT.key the agent's 32-byte authentication key (sync/auth.py, 0600);
                            the backend's --keys-dir is DIR/keys

Usernames: the backend is `baygate-backend`; an agent is `SHOP.AGENT` (ids are
`[A-Za-z0-9][A-Za-z0-9_-]*`, so the dot cannot be part of either). The ACL is written
as one `user` block per agent rather than `pattern` lines with %u, so no username
trick can widen an agent's topics. Mosquitto re-reads password and ACL files on SIGHUP.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sync.auth import decode_key, encode_key, new_key
from sync.envelope import TOPIC_ROOT, AgentTopics
from sync.errors import SyncError

__all__ = [
    "BACKEND_USER",
    "AgentIdentity",
    "ProvisionError",
    "add_agent",
    "agent_username",
    "init_dir",
    "password_hash",
    "render_acl",
]

BACKEND_USER = "baygate-backend"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Mosquitto 2's default for mosquitto_passwd ($7$ = PBKDF2-SHA512, 101 iterations,
# 12-byte salt); the broker checks one hash per CONNECT.
_ITERATIONS = 101


class ProvisionError(SyncError):
    """The broker directory cannot be written or read, or an id is not valid."""


@dataclass(frozen=True)
class AgentIdentity:
    shop: str
    agent: str
    username: str
    password: str
    key: bytes
    key_file: Path


def agent_username(shop: str, agent: str) -> str:
    return f"{shop}.{agent}"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """A password_file hash in Mosquitto 2's `$7$` format (what mosquitto_passwd writes)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    return f"$7${_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # readers (mosquitto on SIGHUP) never see half a file


def _check_id(value: str, what: str) -> None:
    if not _ID.match(value):
        raise ProvisionError(f"{what} {value!r} is not [A-Za-z0-9][A-Za-z0-9_-]* (at most 64 characters)")


def init_dir(root: Path, *, port: int = 1883, bind: str = "0.0.0.0") -> str:
    """Write the broker configuration and the backend identity; returns the backend's
    password. Refuses a directory that already has one (identities are not replaced
    by accident)."""
    try:
        if (root / "passwd").exists():
            raise ProvisionError(f"{root} already holds a broker setup (passwd exists)")
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "keys").mkdir(exist_ok=True)
        (root / "conf.d").mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        _write_private(root / "backend.password", password + "\n")
        _write_private(root / "passwd", f"{BACKEND_USER}:{password_hash(password)}\n")
        (root / "conf.d" / "security.conf").write_text(
            "# Written by `baygate broker init`: identities and ACLs (docs/security.md).\n"
            "allow_anonymous false\n"
            f"password_file {root.resolve() / 'passwd'}\n"
            f"acl_file {root.resolve() / 'acl'}\n"
        )
        (root / "mosquitto.conf").write_text(
            "# Written by `baygate broker init` (docs/security.md). Reload: kill -HUP <pid>.\n"
            "per_listener_settings false\n"
            f"listener {port} {bind}\n"
            "persistence true\n"
            f"persistence_location {root.resolve() / 'data'}/\n"
            f"include_dir {root.resolve() / 'conf.d'}\n"
        )
        _write_acl(root)
    except OSError as exc:
        raise ProvisionError(f"cannot write the broker setup in {root}: {exc.strerror}") from None
    return password


def _agents(root: Path) -> list[tuple[str, str]]:
    keys = root / "keys"
    found = []
    for path in sorted(keys.glob("*/*.key")):
        shop, agent = path.parent.name, path.stem
        if _ID.match(shop) and _ID.match(agent):
            found.append((shop, agent))
    return found


def render_acl(agents: list[tuple[str, str]]) -> str:
    """The acl_file text: the backend reads all and publishes acks and commands; each
    agent publishes only under its own topics and reads only its ack and commands."""
    lines = [
        "# Written by `baygate broker add-agent` from DIR/keys; edits are overwritten.",
        f"user {BACKEND_USER}",
        f"topic readwrite {TOPIC_ROOT}/#",
        "",
    ]
    for shop, agent in agents:
        topics = AgentTopics.of(shop, agent)
        base = topics.base
        lines += [
            f"user {agent_username(shop, agent)}",
            f"topic write {base}/+",  # records (one level per kind), status, reply
            f"topic read {topics.ack}",
            f"topic read {topics.cmd_prefix}+",
            "",
        ]
    return "\n".join(lines)


def _write_acl(root: Path) -> None:
    _write_private(root / "acl", render_acl(_agents(root)))


def add_agent(root: Path, shop: str, agent: str) -> AgentIdentity:
    """Issue (or re-issue: new password and key) an agent identity; rewrite passwd/acl."""
    _check_id(shop, "shop id")
    _check_id(agent, "agent id")
    passwd = root / "passwd"
    if not passwd.exists():
        raise ProvisionError(f"{root} holds no broker setup: run `baygate broker init --dir {root}` first")
    user = agent_username(shop, agent)
    password = secrets.token_urlsafe(24)
    key = new_key()
    key_file = root / "keys" / shop / f"{agent}.key"
    try:
        lines = [ln for ln in passwd.read_text().splitlines() if ln and ln.split(":", 1)[0] != user]
        _write_private(key_file, encode_key(key))
        _write_private(passwd, "\n".join([*lines, f"{user}:{password_hash(password)}"]) + "\n")
        _write_acl(root)
    except OSError as exc:
        raise ProvisionError(f"cannot write the agent identity in {root}: {exc.strerror}") from None
    decode_key(key_file.read_text(), str(key_file))  # what the backend will read back
    return AgentIdentity(shop, agent, user, password, key, key_file)
