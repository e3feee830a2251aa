"""`baygate backend`: run the reference backend ingest (MQTT -> SQLite/PostgreSQL)"""

from __future__ import annotations

import argparse

from agent.cli._notlanded import not_landed
from agent.config import Config

HELP = "run the reference backend ingest (MQTT -> SQLite/PostgreSQL)"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: Config | None) -> int:
    raise not_landed("the reference backend ingest", 3)
