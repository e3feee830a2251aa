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
    if args.out.exists() and not args.out.is_dir():
        print(f"baygate schema: --out {args.out} is a file; give a directory", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)  # unwritable: one line, exit 1 (agent.cli)
    for kind, text in schemas.items():
        (args.out / f"{kind}.schema.json").write_text(text)
    print(f"wrote {len(schemas)} schemas to {args.out}")
    return 0
