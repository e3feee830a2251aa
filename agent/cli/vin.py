"""`baygate vin`: decode a VIN offline and through NHTSA; list recalls"""

from __future__ import annotations

import argparse

from agent.cli._notlanded import not_landed
from agent.config import Config

HELP = "decode a VIN offline and through NHTSA; list recalls"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: Config | None) -> int:
    raise not_landed("VIN decoding", 6)
