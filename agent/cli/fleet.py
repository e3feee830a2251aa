"""`baygate fleet status`: every agent of the fleet, from the backend side.

    baygate fleet status [--mqtt URL] [--db URL] [--json] [--wait S]

Reads the broker's retained status records (bounded wait: `--wait`, default 3 s) and,
with `--db`, the reference ingest's store (SQLite path or postgresql://). `--json`
prints one JSON object per agent per line (`shop`, `agent`, `online`, `version`,
`config_version`, `since`, `outbox_depth`, `oldest_pending_s`, `reconnects`,
`last_record`, `records`, `gaps`, `active_alerts`, `dongles`, `cameras`; times are
epoch seconds, unknown values null). Exit 0 ok, 1 broker or store unreachable, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from agent.config import Config
from agent.errors import AgentError
from sync.errors import SyncError
from sync.fleet import FleetAgent, fleet_view, read_retained, store_view
from sync.mqtt import TlsFiles
from sync.store import open_store

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "format_table", "run"]

HELP = "fleet operations (backend side): status of every agent"
NEEDS_CONFIG = False
ALERT_WINDOW_S = 7 * 86400  # alerts older than a week are history, not state


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    st = subs.add_parser("status", help="every agent: online, version, outbox, alerts, devices")
    st.add_argument("--mqtt", default=None, help="broker URL (default: mqtt.url of --config, else localhost)")
    st.add_argument("--db", default=None, help="the ingest's store: SQLite path or postgresql:// URL")
    st.add_argument("--json", action="store_true", help="one JSON object per agent per line")
    st.add_argument("--wait", type=float, default=3.0, help="longest wait for the broker, seconds")
    st.add_argument("--username", default=None)
    st.add_argument("--password", default=None)
    st.add_argument("--ca-file", default=None)


def _age(now: float, t: float | None) -> str:
    if t is None:
        return "-"
    s = max(0.0, now - t)
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.0f}h"


def format_table(rows: list[FleetAgent], now: float | None = None) -> str:
    now = time.time() if now is None else now
    head = (
        f"{'shop/agent':28} {'state':8} {'since':>6} {'version':10} {'config':8} {'outbox':>6} "
        f"{'oldest':>7} {'reconn':>6} {'last':>6} {'gaps':>5}  alerts / devices"
    )
    lines = [head]
    for r in rows:
        state = "?" if r.online is None else "online" if r.online else "OFFLINE"
        oldest = "-" if r.oldest_pending_s is None else f"{r.oldest_pending_s:.0f}s"
        devices = [f"{k}={v}" for k, v in {**r.dongles, **r.cameras}.items()]
        extra = " ".join([*(a.upper() for a in r.active_alerts), *devices])
        lines.append(
            f"{r.shop + '/' + r.agent:28} {state:8} {_age(now, r.since):>6} {r.version or '-':10} "
            f"{r.config_version or '-':8} {'-' if r.outbox_depth is None else r.outbox_depth:>6} "
            f"{oldest:>7} {'-' if r.reconnects is None else r.reconnects:>6} "
            f"{_age(now, r.last_record):>6} {r.gaps:>5}  {extra}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, config: Config | None) -> int:
    if args.wait <= 0:
        print("baygate fleet: --wait must be positive", file=sys.stderr)
        return 2
    url = args.mqtt or (config.mqtt.url if config else "mqtt://127.0.0.1:1883")
    try:
        statuses, bad = read_retained(
            url,
            username=args.username,
            password=args.password,
            tls=TlsFiles(ca_file=args.ca_file) if args.ca_file else None,
            wait_s=args.wait,
        )
        view = None
        if args.db:
            store = open_store(args.db)
            try:
                view = store_view(store.fleet_rows(time.time() - ALERT_WINDOW_S))
            finally:
                store.close()
    except SyncError as exc:
        raise AgentError(str(exc)) from None
    for line in bad:
        print(f"baygate fleet: skipped a bad status: {line}", file=sys.stderr)
    rows = fleet_view(statuses, view)
    if args.json:
        for r in rows:
            print(json.dumps(r.as_json(), sort_keys=True))
    else:
        print(format_table(rows))
    return 0
