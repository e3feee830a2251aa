"""A throwaway PostgreSQL 15 the test starts itself (initdb + pg_ctl on a free port).

Never the system server on 5432. As root, the server must run as `postgres`
(`runuser -u postgres --`) from a directory that user owns, outside pytest's 0700 dirs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.broker import free_port

__all__ = ["postgres_server"]

BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@contextlib.contextmanager
def postgres_server(password: str | None = None) -> Iterator[str]:
    """Yield a postgresql:// URL to a fresh, empty server; stop and delete it after.
    With `password`, TCP logins need it (scram-sha-256) and the URL does not carry it."""
    d = Path(tempfile.mkdtemp(prefix="baygate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(d, "postgres", "postgres")
    data, port = d / "data", free_port()
    auth = ["--auth=trust"] if password is None else ["--auth-local=trust", "--auth-host=scram-sha-256"]
    subprocess.run(
        _as_postgres(str(BIN / "initdb"), "-D", str(data), "-U", "postgres", *auth, "-E", "UTF8"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(d / "log"), "-w", "start"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        if password is not None:  # over the Unix socket, where trust still applies
            import psycopg
            from psycopg import sql

            with psycopg.connect(host=str(d), port=port, user="postgres", autocommit=True) as con:
                con.execute(sql.SQL("ALTER USER postgres PASSWORD {}").format(sql.Literal(password)))
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(d, ignore_errors=True)
