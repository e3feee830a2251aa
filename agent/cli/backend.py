"""`baygate backend`: run the reference backend ingest (MQTT -> SQLite/PostgreSQL).

    baygate backend [--db URL] [--mqtt URL] [--client-id ID] [--group NAME] [--session-expiry S]
    baygate backend --stats [--db URL]

`--db` is a SQLite path (default ./baygate-backend.sqlite3) or postgresql://... .
Run N instances with distinct --client-id and the same --group to share the load.
`--keys-dir` (DIR/keys of `baygate broker init`): only records signed with their
agent's key are stored, and acks and replay commands are signed (docs/security.md).
The ingest accepts only the agent's record kinds (agent/records.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from agent.config import Config
from agent.errors import AgentError
from agent.records import KINDS
from sync.envelope import Rules
from sync.errors import SyncError
from sync.ingest import Ingest, IngestSettings
from sync.mqtt import TlsFiles
from sync.store import AgentStats, open_store

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "format_stats", "run"]

HELP = "run the reference backend ingest (MQTT -> SQLite/PostgreSQL)"
NEEDS_CONFIG = False


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
    parser.add_argument("--username", default=None)
    parser.add_argument("--password", default=None)
    parser.add_argument("--ca-file", default=None)
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


def run(args: argparse.Namespace, config: Config | None) -> int:
    if args.session_expiry < 0:
        print("baygate backend: --session-expiry must be >= 0", file=sys.stderr)
        return 2
    try:
        if args.stats:
            store = open_store(args.db)
            try:
                print(format_stats(store.stats()))
            finally:
                store.close()
            return 0
        url = args.mqtt or (config.mqtt.url if config else "mqtt://127.0.0.1:1883")
        settings = IngestSettings(
            url=url,
            db=args.db,
            client_id=args.client_id,
            group=args.group,
            session_expiry_s=args.session_expiry,
            username=args.username,
            password=args.password,
            tls=TlsFiles(ca_file=args.ca_file) if args.ca_file else None,
            keys_dir=args.keys_dir,
            rules=Rules(kinds=frozenset(KINDS)),
        )
        asyncio.run(_serve(Ingest(settings)))
    except SyncError as exc:
        raise AgentError(str(exc)) from None
    return 0


async def _serve(ingest: Ingest) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    print(
        f"baygate backend: {ingest.settings.subscription} on {ingest.settings.url} -> {ingest.settings.db}",
        file=sys.stderr,
    )
    with contextlib.suppress(asyncio.CancelledError):
        await ingest.run()
