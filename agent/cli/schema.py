"""`baygate schema`: write the JSON Schema of every record kind (for backend teams)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.config import Config
from agent.records import render_schemas

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "write the JSON Schema of every record kind"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, help="directory to write {kind}.schema.json into (default: stdout)"
    )


def run(args: argparse.Namespace, config: Config | None) -> int:
    schemas = render_schemas()
    if args.out is None:
        sys.stdout.write(json.dumps({k: json.loads(v) for k, v in schemas.items()}, indent=2) + "\n")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, text in schemas.items():
        (args.out / f"{kind}.schema.json").write_text(text)
    print(f"wrote {len(schemas)} schemas to {args.out}")
    return 0
