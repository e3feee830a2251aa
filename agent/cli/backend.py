"""`baygate backend`: run the reference backend ingest (MQTT -> SQLite/PostgreSQL).

    baygate backend [--db URL] [--mqtt URL] [--client-id ID] [--group NAME] [--session-expiry S]
                    [--username NAME] [--password-file PATH] [--db-password-file PATH]
                    [--ca-file PEM [--cert-file PEM --key-file PEM]]
    baygate backend --stats [--db URL]

`--db` is a SQLite path (default ./baygate-backend.sqlite3) or postgresql://... .
Run N instances with distinct --client-id and the same --group to share the load.
`--keys-dir` (DIR/keys of `baygate broker init`): only records signed with their
agent's key are stored, and acks and replay commands are signed (docs/security.md).
The ingest accepts only the agent's record kinds (agent/records.py).

Passwords never need the command line (where `ps` shows them): the MQTT password
comes from `--password-file` or $BAYGATE_BACKEND_MQTT_PASSWORD, the database's from
`--db-password-file`, $BAYGATE_BACKEND_DB_PASSWORD or libpq's PGPASSWORD/PGPASSFILE.
Relative files resolve under systemd's $CREDENTIALS_DIRECTORY. `--password` still
works, with a warning. URLs are shown with their password redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from agent.config import Config
from agent.errors import AgentError, ConfigError
from agent.records import KINDS
from sync.envelope import Rules
from sync.errors import SyncError
from sync.ingest import Ingest, IngestSettings
from sync.mqtt import TlsFiles, resolve_credential
from sync.redact import redact
from sync.store import AgentStats, open_store

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "format_stats", "run"]

HELP = "run the reference backend ingest (MQTT -> SQLite/PostgreSQL)"
NEEDS_CONFIG = False
MQTT_PASSWORD_ENV = "BAYGATE_BACKEND_MQTT_PASSWORD"
DB_PASSWORD_ENV = "BAYGATE_BACKEND_DB_PASSWORD"

log = logging.getLogger("baygate.backend")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="baygate-backend.sqlite3", help="SQLite path or postgresql:// URL")
    parser.add_argument(
        "--mqtt", default=None, help="broker URL (default: mqtt.url of --config, else localhost)"
    )
    parser.add_argument("--client-id", default="baygate-ingest-1", help="distinct per instance")
    parser.add_argument("--group", default="ingest", help="shared-subscription group")
    parser.add_argument(
        "--session-expiry",
        type=int,
        default=IngestSettings.session_expiry_s,
        metavar="S",
        help="how long the broker keeps this worker's session (and deals it its share of records) "
        "after it goes away; with several workers use a few seconds (docs/scaling.md)",
    )
    parser.add_argument("--username", default=None, help="broker user name")
    parser.add_argument(
        "--password", default=None, help=f"visible in ps: prefer --password-file or ${MQTT_PASSWORD_ENV}"
    )
    parser.add_argument("--password-file", type=Path, default=None, help="file holding the MQTT password")
    parser.add_argument(
        "--db-password-file", type=Path, default=None, help="file holding the database password"
    )
    parser.add_argument("--ca-file", type=Path, default=None, help="CA bundle: TLS to the broker (mqtts://)")
    parser.add_argument("--cert-file", type=Path, default=None, help="client certificate (mutual TLS)")
    parser.add_argument("--key-file", type=Path, default=None, help="client key (mutual TLS)")
    parser.add_argument(
        "--keys-dir", type=Path, default=None, help="per-agent keys DIR/SHOP/AGENT.key: verify records"
    )
    parser.add_argument(
        "--stats", action="store_true", help="print per-agent counts, gaps and lag, then exit"
    )


def format_stats(rows: list[AgentStats], now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [
        f"{'shop/agent':32} {'epoch':8} {'records':>8} {'hw':>8} {'max':>8} {'gaps':>6} "
        f"{'dropped':>7} {'dups':>6} {'lag_s':>7} {'seen_s':>7}"
    ]
    for r in rows:
        lag = "-" if r.lag_s is None else f"{r.lag_s:.2f}"
        seen = "-" if r.last_received is None else f"{now - r.last_received:.0f}"
        lines.append(
            f"{r.shop + '/' + r.agent:32} {r.epoch[:8]:8} {r.count:>8} {r.hw:>8} {r.max_seq:>8} "
            f"{r.missing:>6} {r.dropped:>7} {r.duplicates:>6} {lag:>7} {seen:>7}"
        )
    return "\n".join(lines)


def backend_secret(option: str, path: Path | None, env: str, given: str | None = None) -> str | None:
    """A password from its file, else the environment, else the command line (every
    backend-side command: `backend`, `fleet`)."""
    if path is not None:
        f = resolve_credential(path)
        try:
            return f.read_text().strip()
        except OSError as exc:
            raise ConfigError(option, f"cannot read {f}: {exc.strerror}") from None
    if os.environ.get(env):
        return os.environ[env]
    if given is not None:
        log.warning("--password is visible to every user in ps: use --password-file or $%s", env)
    return given


def _tls(args: argparse.Namespace, url: str) -> TlsFiles | None:
    if (args.cert_file is None) != (args.key_file is None):
        raise ConfigError("--cert-file/--key-file", "give both (mutual TLS) or neither")
    if args.ca_file is None and args.cert_file is None and not url.startswith("mqtts://"):
        return None
    return TlsFiles(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)


def run(args: argparse.Namespace, config: Config | None) -> int:
    if args.session_expiry < 0:
        print("baygate backend: --session-expiry must be >= 0", file=sys.stderr)
        return 2
    try:
        db_password = backend_secret("--db-password-file", args.db_password_file, DB_PASSWORD_ENV)
        if args.stats:
            # Read what exists: opening a SQLite path would create it (and its directory).
            if "://" not in args.db and not Path(args.db).is_file():
                raise AgentError(f"no backend database at {args.db} (give --db of a running ingest)")
            store = open_store(args.db, db_password)
            try:
                print(format_stats(store.stats()))
            finally:
                store.close()
            return 0
        url = args.mqtt or (config.mqtt.url if config else "mqtt://127.0.0.1:1883")
        settings = IngestSettings(
            url=url,
            db=args.db,
            db_password=db_password,
            client_id=args.client_id,
            group=args.group,
            session_expiry_s=args.session_expiry,
            username=args.username,
            password=backend_secret("--password-file", args.password_file, MQTT_PASSWORD_ENV, args.password),
            tls=_tls(args, url),
            keys_dir=args.keys_dir,
            rules=Rules(kinds=frozenset(KINDS)),
        )
        asyncio.run(_serve(Ingest(settings)))
    except SyncError as exc:
        raise AgentError(redact(str(exc))) from None
    return 0


async def _serve(ingest: Ingest) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    s = ingest.settings
    print(f"baygate backend: {s.subscription} on {redact(s.url)} -> {redact(s.db)}", file=sys.stderr)
    with contextlib.suppress(asyncio.CancelledError):
        await ingest.run()
