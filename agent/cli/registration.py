"""`baygate registration`: manage product registrations (list, show, complete)"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from agent.config import Config
from agent.enrich.db import StateDB
from agent.enrich.factory import state_path
from agent.enrich.queue import QueueSink, WorkQueue
from agent.enrich.registrar import complete_registration
from agent.enrich.registrations import Registration, RegistrationStore

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "manage product registrations (list, show, complete)"
NEEDS_CONFIG = True

STATUSES = [
    "PENDING",
    "PROCESSING",
    "SUCCESS",
    "PARTIAL_SUCCESS",
    "MANUAL_REQUIRED",
    "FAILED",
    "USER_COMPLETED",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="registrations, newest first")
    ls.add_argument("--status", choices=STATUSES, help="only registrations in this state")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    sh = sub.add_parser("show", help="one registration with its attempts (audit trail)")
    sh.add_argument("id", help="registration id, as `baygate registration list` shows it")
    sh.add_argument("--json", action="store_true", help="print one JSON object")
    co = sub.add_parser("complete", help="the technician finished a manual registration")
    co.add_argument("id", help="registration id, as `baygate registration list` shows it")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _as_dict(r: Registration) -> dict[str, Any]:
    return {
        **r.record_body(),
        "result": r.result,
        "created": _when(r.created_at),
        "updated": _when(r.updated_at),
    }


async def _run(args: argparse.Namespace, config: Config) -> int:
    db = await StateDB.open(state_path(config.agent.state_dir))
    store = RegistrationStore(db)
    try:
        if args.action == "list":
            regs = await store.find(args.status)
            if args.json:
                print(json.dumps({"registrations": [_as_dict(r) for r in regs]}))
            for r in [] if args.json else regs:
                what = f"{r.manufacturer:<10} {r.serial:<16} {r.priority:<6}"
                print(f"{r.id}  {r.status:<16} {what} {_when(r.updated_at)}")
            if not regs and not args.json:
                print("no registrations")
            return 0
        reg = await store.get(args.id)
        if args.action == "show":
            attempts = await store.attempts(reg.id)
            if args.json:
                out = {**_as_dict(reg), "attempt_log": [a.__dict__ for a in attempts]}
                print(json.dumps(out))
                return 0
            print(f"{reg.id}: {reg.manufacturer} {reg.serial} {reg.status} (priority {reg.priority})")
            if reg.manual:
                print(f"  open {reg.manual['url']}")
                for i, step in enumerate(reg.manual.get("steps", []), 1):
                    print(f"  {i}. {step.replace('<id>', reg.id)}")
            for a in attempts:
                err = f" - {a.error}" if a.error else ""
                print(f"  attempt {a.n}: {a.method} {a.outcome} in {a.duration_s * 1000:.0f} ms{err}")
            return 0
        # The running agent emits the status record to the outbox from its durable queue.
        done = await complete_registration(store, QueueSink(WorkQueue(db)), reg.id)
        print(f"{done.id}: USER_COMPLETED")
        return 0
    finally:
        await db.aclose()


def run(args: argparse.Namespace, config: Config | None) -> int:
    assert config is not None
    return asyncio.run(_run(args, config))
