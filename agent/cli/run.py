"""`baygate run`: run the agent (dongles, cameras, enrichment, sync) until stopped"""

from __future__ import annotations

import argparse

from agent.cli._notlanded import not_landed
from agent.config import Config

HELP = "run the agent (dongles, cameras, enrichment, sync) until stopped"
NEEDS_CONFIG = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: Config | None) -> int:
    raise not_landed("the agent runtime", 3)
