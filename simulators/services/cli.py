"""`baygate simulate nhtsa|manufacturer`: run a fake remote service in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from simulators.services.faults import FaultPlan, parse_fault
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer, wait_forever
from simulators.services.vpic import NhtsaApp

__all__ = ["manufacturer_main", "nhtsa_main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every reply")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="persistent fault (503[:S], 429[:S], 500, 502, 401, 403, timeout, reset, slow:MS, html, "
        "truncated, garbage, poison); repeat to queue several for the first requests, the last one persists",
    )


def _plan(args: argparse.Namespace) -> FaultPlan:
    faults = [parse_fault(s) for s in args.fault]
    plan = FaultPlan(latency_ms=args.latency_ms)
    if faults:
        plan.queue.extend(faults[:-1])
        plan.persistent = faults[-1]
    return plan


def _announce(name: str) -> Callable[[str], None]:
    def say(url: str) -> None:
        print(f"fake {name} listening on {url} (admin: {url}_admin/stats; Ctrl-C stops)", flush=True)

    return say


def nhtsa_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="baygate simulate nhtsa", description="Fake NHTSA vPIC (/api/vehicles/...) and recalls API"
    )
    _common(parser)
    args = parser.parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        parser.error(str(exc))
    server = ServiceServer(NhtsaApp(), port=args.port, host=args.host, plan=plan)
    return wait_forever(server, _announce("nhtsa"))


def manufacturer_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="baygate simulate manufacturer",
        description="Fake manufacturer warranty APIs (OAuth2) and registration form",
    )
    _common(parser)
    parser.add_argument("--client-id", default="baygate-demo")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--api-key", default="demo-api-key")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access token lifetime, seconds")
    args = parser.parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        parser.error(str(exc))
    app = ManufacturerApp(args.client_id, args.client_secret, args.api_key, args.token_ttl)
    server = ServiceServer(app, port=args.port, host=args.host, plan=plan)
    return wait_forever(server, _announce("manufacturer"))
