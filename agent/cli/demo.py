"""`baygate demo`: the agent end to end on simulators, printing what it does."""

from __future__ import annotations

import argparse

from agent.config import Config

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "run the agent end to end on simulators and print what happens"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="keep the demo's temp dir (state, logs)")


def run(args: argparse.Namespace, config: Config | None) -> int:
    from agent.demo.runner import run_demo
    from agent.logs import setup_logging

    # The narration is the output: the agent's own log lines would interleave with it
    # (as JSON when piped). Only warnings, as readable lines, unless asked otherwise.
    setup_logging(args.log_level or "WARNING", json_lines=bool(args.log_json))

    return run_demo(keep=args.keep)
