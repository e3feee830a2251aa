"""`baygate simulate`: run a simulator: elm327, camera, nhtsa, manufacturer"""

from __future__ import annotations

import argparse

from agent.cli._notlanded import not_landed
from agent.config import Config

HELP = "run a simulator: elm327, camera, nhtsa, manufacturer"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, config: Config | None) -> int:
    raise not_landed("simulators", 4)
