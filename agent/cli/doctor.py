"""`baygate doctor`: validate the config and check broker, system tools and devices."""

from __future__ import annotations

import argparse
import json

from agent.config import Config
from agent.service.doctor import run_checks

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "validate the config and check the broker, system tools and devices"
NEEDS_CONFIG = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, config: Config | None) -> int:
    assert config is not None
    checks = run_checks(config)
    if args.json:
        print(json.dumps({"checks": [vars(c) for c in checks]}))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.status.upper():4}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != "pass":
                print(f"{'':4}  {'':<{width}}  fix: {c.fix}")
    return 1 if any(c.status == "fail" for c in checks) else 0
