"""`baygate simulate NAME ...`: start one of the simulators as a standalone product.

Simulators import nothing of ours; each has its own argparse in `simulators/<name>/cli.py`
with `main(argv) -> int`, so it can also run as `python -m simulators.<name>`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agent.config import Config

__all__ = ["HELP", "NEEDS_CONFIG", "SIMULATORS", "add_arguments", "run"]

HELP = "run a simulator: " + ", ".join(["elm327", "camera", "nhtsa", "manufacturer", "fleet"])
NEEDS_CONFIG = False

# name -> "module:function"; each function takes the remaining argv and returns an exit code.
SIMULATORS: dict[str, str] = {
    "elm327": "simulators.elm327.cli:main",
    "nhtsa": "simulators.services.cli:nhtsa_main",
    "manufacturer": "simulators.services.cli:manufacturer_main",
    "camera": "simulators.camera.cli:main",
    # Not a peer simulator: N agents of ours (real outbox and link), simulated readings.
    "fleet": "agent.demo.fleet:main",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="which simulator: " + ", ".join(sorted(SIMULATORS) or ["(none yet)"]))
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the simulator's own options (try --help)")


def run(args: argparse.Namespace, config: Config | None) -> int:
    target = SIMULATORS.get(args.name)
    if target is None:
        known = ", ".join(sorted(SIMULATORS)) or "none has landed yet"
        print(f"baygate simulate: unknown simulator {args.name!r} (known: {known})", file=sys.stderr)
        return 2
    module, func = target.split(":")
    main = getattr(importlib.import_module(module), func)
    return int(main(list(args.rest)))
