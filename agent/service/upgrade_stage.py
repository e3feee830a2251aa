"""Staging a release the backend ordered: fetch a wheelhouse tarball, verify it, unpack it.

Everything here is blocking (file and network I/O) and runs in a worker thread
(`agent/service/upgrade.py`). Each step refuses and cleans up on the first thing wrong,
so a refused order leaves nothing staged:

- `fetch`: http(s):// or file:// only; streamed in 1 MiB chunks into a temp file, with
  a size cap checked against Content-Length before reading and against the bytes read
  while reading (a server may lie or send none); the sha256 of the bytes must be the
  ordered one, or the file is removed. The state dir also holds the outbox: staging
  (the tarball, then as much again unpacked) must leave `min_free_bytes` free, or the
  order is refused before a byte is written (the agent passes its disk_low threshold,
  below which telemetry is shed).
- `unpack`: a wheelhouse is flat (requirements.txt and wheels), so only regular files
  with plain names are accepted: an absolute path, `..`, a directory, a link or a
  device is refused before anything is written; the sizes the headers declare are
  summed and capped first (a compressed tarball may expand far past its own size).
- `check_wheelhouse`: requirements.txt and exactly one `baygate-VERSION-py3-none-any.whl`
  of the ordered version (the release script installs the newest baygate wheel it
  finds, so a second one would install a version nobody ordered).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from agent.errors import UpgradeError
from sync.redact import redact

__all__ = [
    "CHUNK",
    "VERSION_PATTERN",
    "check_wheelhouse",
    "fetch",
    "unpack",
]

CHUNK = 1 << 20
# A version is also a directory name and the release script's wheel-name field
# (`cut -d- -f2`): digits first, no '-' or '/', at most 64 characters.
VERSION_PATTERN = r"^[0-9][0-9A-Za-z.+_]{0,63}$"
_MEMBER = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,199}$")
MAX_MEMBERS = 1_000  # the locked runtime set is ~60 wheels


def fetch(
    url: str, dest: Path, *, sha256: str, max_bytes: int, timeout_s: float = 30.0, min_free_bytes: int = 0
) -> int:
    """Download `url` to `dest` (verified); the number of bytes. UpgradeError otherwise."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise UpgradeError(f"url scheme {scheme or '(none)'!r} is not http, https or file")
    shown = redact(url)
    tmp = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r, open(tmp, "wb") as out:
            declared = r.headers.get("Content-Length")
            known = int(declared) if declared is not None and declared.isdigit() else None
            if known is not None and known > max_bytes:
                raise UpgradeError(f"{shown} is {known} bytes, over the cap of {max_bytes}")
            need = 2 * (known if known is not None else max_bytes) + min_free_bytes
            free = shutil.disk_usage(dest.parent).free
            if free < need:
                raise UpgradeError(
                    f"not enough room under {dest.parent}: {free >> 20} MiB free, staging needs "
                    f"{need >> 20} MiB (twice the tarball, and agent.disk_low_mb left for the outbox)"
                )
            while chunk := r.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UpgradeError(f"{shown} is over the cap of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except UpgradeError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:
        tmp.unlink(missing_ok=True)
        raise UpgradeError(f"cannot fetch {shown}: {redact(str(exc))}") from None
    if digest.hexdigest() != sha256.lower():
        tmp.unlink(missing_ok=True)
        raise UpgradeError(f"sha256 of {shown} is {digest.hexdigest()}, not the ordered {sha256}")
    tmp.replace(dest)
    return size


def unpack(tar_path: Path, dest: Path, *, max_bytes: int) -> list[str]:
    """Unpack a flat wheelhouse tarball (plain, gz, bz2 or xz) into `dest`, which must
    not exist; the names unpacked. Nothing is left behind when it is refused."""
    work = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(work, ignore_errors=True)
    try:
        with tarfile.open(tar_path, "r:*") as tf:
            members = _members(tf, max_bytes)
            work.mkdir(parents=True)
            for m in members:
                src = tf.extractfile(m)
                if src is None:  # pragma: no cover - _members keeps regular files only
                    raise UpgradeError(f"member {m.name!r} has no data")
                with src, open(work / _plain(m.name), "xb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        work.rename(dest)
    except UpgradeError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise UpgradeError(f"cannot unpack {tar_path.name}: {exc}") from None
    return sorted(_plain(m.name) for m in members)


def _plain(name: str) -> str:
    return name.removeprefix("./")


def _members(tf: tarfile.TarFile, max_bytes: int) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    total = 0
    seen: set[str] = set()
    for m in tf:
        name = _plain(m.name)
        if m.isdir() and name in ("", "."):
            continue  # `tar -C wh -cf x.tar .` stores the top directory itself
        if not _MEMBER.match(name) or ".." in name:
            raise UpgradeError(f"member {m.name!r} is not a plain file name (absolute, '..' or a directory)")
        if not m.isreg():
            raise UpgradeError(f"member {m.name!r} is not a regular file (a wheelhouse holds no links)")
        if name in seen:
            raise UpgradeError(f"member {m.name!r} appears twice")
        seen.add(name)
        total += m.size
        if total > max_bytes:
            raise UpgradeError(f"unpacked size over the cap of {max_bytes} bytes")
        members.append(m)
        if len(members) > MAX_MEMBERS:
            raise UpgradeError(f"more than {MAX_MEMBERS} members")
    return members


def check_wheelhouse(directory: Path, version: str) -> None:
    """What the release script needs, for exactly the ordered version."""
    names = {p.name for p in directory.iterdir()}
    if "requirements.txt" not in names:
        raise UpgradeError("the wheelhouse has no requirements.txt (copy locks/runtime.txt)")
    ours = sorted(n for n in names if n.startswith("baygate-") and n.endswith(".whl"))
    wanted = f"baygate-{version}-py3-none-any.whl"
    if ours != [wanted]:
        raise UpgradeError(f"the wheelhouse must hold exactly {wanted}; it holds {', '.join(ours) or 'none'}")
