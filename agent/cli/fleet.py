"""`baygate fleet`: the fleet from the backend side.

    baygate fleet status [--mqtt URL] [--db URL] [--json] [--wait S]
    baygate fleet config push (--agent SHOP/AGENT ... | --group FILE) --version V FILE.toml
                              [--mqtt URL] [--keys-dir DIR] [--username U] [--password-file F]
    baygate fleet upgrade --version V --url URL --sha256 HEX (--agent SHOP/AGENT ... | --group FILE)
                          [--canary SHOP/AGENT ...] [--wave-size N] [--timeout S] [broker options]

`config push` sends FILE.toml (the keys to set, as in agent.toml) as the desired
config layer to each agent, signed with each agent's key, and prints each answer:
applied, unchanged, rejected (with the key it names), rolled back, or no answer.
Exit 0 when every agent applied it (or had it already), 1 otherwise.

`upgrade` orders the release (a wheelhouse tarball at URL with that sha256) from the
canaries, then the others `--wave-size` at a time, and waits for each agent to report
it upgraded (agent/cli/fleet_upgrade.py); one line per agent. The first agent that
rolls back, fails or refuses stops the rollout: exit 1, its name and reason on stderr,
and the agents after it are not touched.

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
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.cli.backend import MQTT_PASSWORD_ENV, backend_secret
from agent.cli.fleet_upgrade import Outcome, Send, plan_waves, roll_out
from agent.config import Config
from agent.errors import AgentError, ConfigError
from agent.service.remote_config import parse_remote
from agent.service.upgrade_stage import VERSION_PATTERN
from sync.commands import Reply
from sync.errors import SyncError
from sync.fleet import FleetAgent, fleet_view, read_retained, store_view
from sync.keyring import KeyRing
from sync.mqtt import TlsFiles
from sync.requester import Target, request_all
from sync.store import open_store

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "format_table", "run"]

HELP = "fleet operations (backend side): status of every agent, remote configuration, upgrades"
NEEDS_CONFIG = False
ALERT_WINDOW_S = 7 * 86400  # alerts older than a week are history, not state
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    cfg = subs.add_parser("config", help="remote configuration: push a desired config layer")
    cfg_subs = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    push = cfg_subs.add_parser("push", help="send FILE.toml to agents and print each answer")
    push.add_argument("file", type=Path, help="the keys to set, in agent.toml's format")
    push.add_argument("--version", required=True, help="a label for this layer (shown in fleet status)")
    _command_options(push)
    push.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the answers")
    push.add_argument("--json", action="store_true", help="one JSON object per agent per line")
    up = subs.add_parser("upgrade", help="roll a release out in waves, canary first; stop at a failure")
    up.add_argument("--version", required=True, help="the release's version (its baygate wheel's)")
    up.add_argument("--url", required=True, help="http(s):// or file:// of the wheelhouse tarball")
    up.add_argument("--sha256", required=True, help="of the tarball (sha256sum)")
    _command_options(up)
    up.add_argument("--canary", action="append", default=[], metavar="SHOP/AGENT",
                    help="upgraded first, alone (repeatable)")  # fmt: skip
    up.add_argument("--wave-size", type=int, default=10, help="agents per wave after the canaries")
    up.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per wave for every agent to report its result")  # fmt: skip
    up.add_argument("--poll", type=float, default=3.0, help="seconds between status queries")
    st = subs.add_parser("status", help="every agent: online, version, outbox, alerts, devices")
    st.add_argument("--mqtt", default=None, help="broker URL (default: mqtt.url of --config, else localhost)")
    st.add_argument("--db", default=None, help="the ingest's store: SQLite path or postgresql:// URL")
    st.add_argument("--json", action="store_true", help="one JSON object per agent per line")
    st.add_argument("--wait", type=float, default=3.0, help="longest wait for the broker, seconds")
    st.add_argument("--username", default=None, help="the backend's broker identity")
    st.add_argument("--password", default=None, help=f"visible in ps: prefer ${MQTT_PASSWORD_ENV}")
    st.add_argument("--ca-file", default=None, help="CA bundle for mqtts://")


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


def _command_options(p: argparse.ArgumentParser) -> None:
    """Who to command and through which broker: shared by `config push` and `upgrade`."""
    p.add_argument("--agent", action="append", default=[], metavar="SHOP/AGENT", help="repeatable")
    p.add_argument("--group", type=Path, default=None, help="a file of SHOP/AGENT lines")
    p.add_argument("--mqtt", default=None, help="broker URL (default: mqtt.url of --config)")
    p.add_argument("--keys-dir", type=Path, default=None, help="per-agent keys DIR/SHOP/AGENT.key")
    p.add_argument("--username", default=None, help="the backend's broker identity")
    p.add_argument("--password-file", type=Path, default=None, help=f"or ${MQTT_PASSWORD_ENV}")
    p.add_argument("--ca-file", type=Path, default=None, help="CA bundle for mqtts://")


def run(args: argparse.Namespace, config: Config | None) -> int:
    if args.fleet_command == "config":
        return _push(args, config)
    if args.fleet_command == "upgrade":
        return _upgrade(args, config)
    if args.wait <= 0:
        print("baygate fleet: --wait must be positive", file=sys.stderr)
        return 2
    url = args.mqtt or (config.mqtt.url if config else "mqtt://127.0.0.1:1883")
    try:
        statuses, bad = read_retained(
            url,
            username=args.username,
            password=backend_secret("--password", None, MQTT_PASSWORD_ENV, args.password),
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


def _parse_targets(names: list[str], flag: str = "--agent") -> list[Target]:
    targets = []
    for name in names:
        shop, sep, agent = name.partition("/")
        if not sep or not _ID.match(shop) or not _ID.match(agent):
            raise ConfigError(flag, f"{name!r} is not SHOP/AGENT")
        targets.append(Target(shop, agent))
    return targets


def _targets(args: argparse.Namespace) -> list[Target]:
    names = list(args.agent)
    if args.group is not None:
        try:
            text = args.group.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--group", f"cannot read {args.group}: {exc}") from None
        names += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    targets = _parse_targets(names)
    if not targets:
        raise ConfigError("--agent", "name at least one SHOP/AGENT (or --group FILE)")
    return targets


def _push(args: argparse.Namespace, config: Config | None) -> int:
    if args.timeout <= 0:
        raise ConfigError("--timeout", "must be positive")
    targets = _targets(args)
    try:
        toml = args.file.read_text(encoding="utf-8")
        parse_remote(args.version, toml)  # the agent validates again; refuse the obvious here
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(args.file), f"cannot read: {exc}") from None
    answers = _sender(args, config)(targets, "config", {"version": args.version, "toml": toml}, args.timeout)
    ok = True
    for target, reply in answers.items():
        result = dict(reply.result or {}) if reply is not None and reply.ok else {}
        status = result.get("status") or ("no answer" if reply is None else "refused")
        error = result.get("error") or (reply.error if reply is not None and not reply.ok else None)
        ok = ok and status in ("applied", "unchanged")
        if args.json:
            print(json.dumps({"agent": str(target), "status": status, "error": error}, sort_keys=True))
        else:
            print(f"{target}: {status}" + (f": {error}" if error else ""))
    return 0 if ok else 1


def _sender(args: argparse.Namespace, config: Config | None) -> Send:
    """Send one signed command to targets and collect the answers (sync/requester.py)."""
    url = args.mqtt or (config.mqtt.url if config else "mqtt://127.0.0.1:1883")
    password = backend_secret("--password-file", args.password_file, MQTT_PASSWORD_ENV)

    def send(
        targets: Sequence[Target], name: str, payload: Mapping[str, Any], timeout_s: float
    ) -> Mapping[Target, Reply | None]:
        try:
            return request_all(
                url, targets, name, payload, keys=KeyRing(args.keys_dir) if args.keys_dir else None,
                client_id=f"baygate-fleet-{os.getpid()}", username=args.username, password=password,
                tls=TlsFiles(ca_file=args.ca_file) if args.ca_file else None, timeout_s=timeout_s,
            )  # fmt: skip
        except SyncError as exc:
            raise AgentError(str(exc)) from None

    return send


def _upgrade(args: argparse.Namespace, config: Config | None) -> int:
    if args.timeout <= 0 or args.poll <= 0:
        raise ConfigError("--timeout", "--timeout and --poll must be positive")
    if args.wave_size < 1:
        raise ConfigError("--wave-size", "must be at least 1")
    if not re.fullmatch(VERSION_PATTERN, args.version):
        raise ConfigError("--version", f"{args.version!r} must match {VERSION_PATTERN}")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        raise ConfigError("--sha256", "must be 64 hex digits (sha256sum of the tarball)")
    if not args.url.startswith(("http://", "https://", "file://")):
        raise ConfigError("--url", "must be http://, https:// or file:// (the agent fetches it)")
    canaries = _parse_targets(args.canary, "--canary")
    targets = _targets(args) if (args.agent or args.group) else []
    if not targets and not canaries:
        raise ConfigError("--agent", "name at least one SHOP/AGENT (or --group FILE)")
    waves = plan_waves(targets, canaries, args.wave_size)
    order = {"version": args.version, "url": args.url, "sha256": args.sha256.lower()}

    def report(o: Outcome) -> None:
        print(f"{o.target}: {o.text}", flush=True)

    send = _sender(args, config)
    failure = roll_out(send, waves, order, timeout_s=args.timeout, poll_s=args.poll, report=report)
    if failure is None:
        return 0
    done = False
    for wave in waves:  # those the rollout never reached, for the record
        if failure.target in wave:
            done = True
            continue
        if done:
            for t in wave:
                print(f"{t}: not attempted (rollout stopped)")
    print(f"baygate fleet upgrade: stopped at {failure.target}: {failure.text}", file=sys.stderr)
    return 1
