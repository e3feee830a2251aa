"""`baygate` command line. One module per subcommand; each exposes `add_parser` and `run`.

Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage, 3 capability not built yet.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from agent import __version__
from agent.config import Config, load_config
from agent.errors import AgentError, ConfigError
from agent.logs import setup_logging

__all__ = ["EXIT_CONFIG", "EXIT_FAIL", "EXIT_OK", "main"]

# Exit codes, the same for every command (README "Command line").
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG = 2

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


class Subcommand(Protocol):
    HELP: str
    NEEDS_CONFIG: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, config: Config | None) -> int: ...


def _module(name: str) -> Subcommand:
    return importlib.import_module(f"agent.cli.{name}")  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baygate",
        description="Baygate edge agent: OBD2 dongles, cameras, NHTSA enrichment, durable MQTT sync.",
    )
    parser.add_argument("--version", action="version", version=f"baygate {__version__}")
    parser.add_argument(
        "--config", type=Path, default=None, help="config file (default /etc/baygate/agent.toml)"
    )
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-json", action="store_true", default=None, help="force JSON log lines")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, modname in SUBCOMMANDS.items():
        mod = _module(modname)
        sp = subs.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod: Subcommand = args._module
    config: Config | None = None
    try:
        if mod.NEEDS_CONFIG or args.config is not None:
            config = load_config(args.config)
        level = args.log_level or (config.log_level if config else "INFO")
        setup_logging(level, json_lines=args.log_json)
        return mod.run(args, config)
    except ConfigError as exc:
        print(f"baygate: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AgentError as exc:
        print(f"baygate {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
