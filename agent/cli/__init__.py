"""`baygate` command line. One module per subcommand; each exposes `add_parser` and `run`.

Exit codes, the same for every command (README "Command line"): 0 ok, 1 runtime failure,
2 usage or config error, 141 stdout closed early (`baygate ... | head`, as a shell
reports a command ended by SIGPIPE). Every failure is one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from agent import __version__
from agent.config import Config, load_config
from agent.errors import AgentError, ConfigError
from agent.logs import setup_logging

__all__ = ["EXIT_CONFIG", "EXIT_FAIL", "EXIT_OK", "EXIT_PIPE", "main"]

# Exit codes, the same for every command (README "Command line").
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG = 2
EXIT_PIPE = 141  # 128 + SIGPIPE

# Subcommand name -> module under agent.cli. Order is the order `--help` shows.
SUBCOMMANDS = {
    "run": "run",
    "demo": "demo",
    "simulate": "simulate",
    "backend": "backend",
    "fleet": "fleet",
    "broker": "broker",
    "obd": "obd",
    "scan": "scan",
    "vin": "vin",
    "registration": "registration",
    "ui": "ui",
    "doctor": "doctor",
    "schema": "schema",
}

log = logging.getLogger("baygate.cli")

# One example per command, shown at the end of its --help (simulators carry their own).
EXAMPLES: dict[str, str] = {
    "run": "baygate --config /etc/baygate/agent.toml run\n"
    "  BAYGATE__AGENT__STATE_DIR=/tmp/bg baygate --config config/agent.example.toml run --simulated-ble\n"
    "      # no radio: its ble://name=OBDII dongle is the ELM327 simulator's",
    "demo": "baygate demo --keep",
    "simulate": "baygate simulate nhtsa --port 8082\n  baygate simulate camera --help",
    "backend": "baygate backend --db postgresql://ingest@db/baygate --client-id ingest-1\n"
    "  baygate backend --stats --db baygate-backend.sqlite3",
    "broker": "baygate broker init --dir /etc/mosquitto/baygate",
    "fleet": "baygate fleet status --mqtt mqtt://broker:1883 --db postgresql://ingest@db/baygate",
    "fleet status": "baygate fleet status --mqtt mqtt://broker:1883 --json",
    "fleet config": "baygate fleet config push --agent shop-1/bay-1 --version v7 telemetry.toml",
    "fleet config push": "baygate fleet config push --group canary.txt --version v7 \\\n"
    "      --keys-dir /etc/mosquitto/baygate/keys --username baygate-backend \\\n"
    "      --password-file backend.pw telemetry.toml",
    "fleet upgrade": "baygate fleet upgrade --version 1.4.0 --url https://rel.example/baygate-1.4.0.tar \\\n"
    "      --sha256 $(cut -d' ' -f1 baygate-1.4.0.tar.sha256) --canary shop-1/bay-1 --group fleet.txt \\\n"
    "      --wave-size 20 --keys-dir /etc/mosquitto/baygate/keys --username baygate-backend",
    "broker init": "baygate broker init --dir /etc/mosquitto/baygate --port 8883",
    "broker add-agent": "baygate broker add-agent --dir /etc/mosquitto/baygate shop-001 bay-1",
    "ui": "baygate --config /etc/baygate/agent.toml ui url --bay 1",
    "ui url": "baygate --config /etc/baygate/agent.toml ui url --bay 1 --read-only",
    "obd": "baygate obd read --url tcp://192.168.0.10:35000\n"
    "  baygate obd read --simulated-ble --url ble://name=OBDII   # no radio: the simulator's dongles",
    "obd discover": "baygate obd discover --timeout 10 --all\n"
    "  baygate obd discover --simulated-ble   # no radio: the ELM327 simulator's BLE dongles",
    "obd read": "baygate obd read --url serial:///dev/ttyUSB0 --json\n"
    "  baygate obd read --url ble://name=OBDII --simulated-ble petrol-can   # no radio, a petrol car",
    "obd watch": "baygate obd watch --url tcp://192.168.0.10:35000 --pids RPM,SPEED --hz 2 --duration 60",
    "obd clear": "baygate obd clear --url tcp://192.168.0.10:35000 --confirm",
    "scan": "baygate scan image label.png",
    "scan image": "baygate scan image --formats QRCode,Code128 *.png",
    "scan camera": "baygate scan camera --source /dev/video0 --duration 30",
    "vin": "baygate vin decode 1HGCM82633A004352",
    "vin decode": "baygate vin decode 1HGCM82633A004352 --offline",
    "vin recalls": "baygate vin recalls 1FTFW1ET9DFC10312",
    "registration": "baygate registration list --status MANUAL_REQUIRED",
    "registration list": "baygate registration list --status MANUAL_REQUIRED --json",
    "registration show": "baygate registration show REGISTRATION-ID",
    "registration complete": "baygate registration complete REGISTRATION-ID",
    "doctor": "baygate --config /etc/baygate/agent.toml doctor --json",
    "schema": "baygate schema --out schemas/",
}


class Subcommand(Protocol):
    HELP: str
    NEEDS_CONFIG: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, config: Config | None) -> int: ...


def _module(name: str) -> Subcommand:
    return importlib.import_module(f"agent.cli.{name}")  # type: ignore[return-value]


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--config/--log-level/--log-json, accepted before or after the subcommand. On the
    subcommand they default to SUPPRESS so they never undo a value given before it."""
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    parser.add_argument(
        "--config", type=Path, default=d(None), help="config file (default /etc/baygate/agent.toml)"
    )
    parser.add_argument(
        "--log-level", default=d(None), choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log threshold"
    )
    parser.add_argument("--log-json", action="store_true", default=d(None), help="force JSON log lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baygate",
        description="Baygate edge agent: OBD2 dongles, cameras, NHTSA enrichment, durable MQTT sync.",
        epilog="exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 141 output pipe closed. "
        "Try: baygate --config config/agent.example.toml doctor",
    )
    parser.add_argument("--version", action="version", version=f"baygate {__version__}")
    _global_options(parser, defaults=True)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, modname in SUBCOMMANDS.items():
        mod = _module(modname)
        sp = subs.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        _everywhere(sp, name, mod.HELP)
        sp.set_defaults(_module=mod)
    return parser


def _everywhere(parser: argparse.ArgumentParser, path: str, summary: str | None) -> None:
    """On a subcommand and each of its own subcommands: the global options, a one-line
    description (its summary in the parent's list) and its example."""
    _global_options(parser, defaults=False)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if not parser.description and summary:
        parser.description = summary[:1].upper() + summary[1:] + "."
    if path in EXAMPLES:
        parser.epilog = "example:\n  " + EXAMPLES[path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.help = action.help or "one of:"
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                _everywhere(child, f"{path} {name}", helps.get(name))


def _leaves(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups (a TaskGroup wraps its failures)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _report(command: str, exc: BaseException) -> int | None:
    """One line on stderr and the exit code for an error we can explain, else None."""
    if isinstance(exc, ConfigError):
        print(f"baygate: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, AgentError):
        print(f"baygate {command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        # A path or port the environment refuses (permissions, in use, read-only disk).
        where = f": {exc.filename}" if exc.filename else ""
        print(f"baygate {command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAIL
    return None


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod: Subcommand = args._module
    config: Config | None = None
    try:
        if mod.NEEDS_CONFIG or args.config is not None:
            config = load_config(args.config)
        level = args.log_level or (config.log_level if config else "INFO")
        setup_logging(level, json_lines=args.log_json)
        code = mod.run(args, config)
        sys.stdout.flush()  # a closed pipe surfaces here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:
        leaves = [e for e in _leaves(exc) if not isinstance(e, KeyboardInterrupt)]
        if any(isinstance(e, BrokenPipeError) for e in leaves):
            raise BrokenPipeError from None
        for leaf in leaves:
            reported = _report(args.command, leaf)
            if reported is not None:
                return reported
        raise


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): it had all it wanted. Point stdout at /dev/null
        # so the interpreter's final flush does not print a second traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
