"""`baygate simulate nhtsa|manufacturer`: run a fake remote service in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from simulators.listening import cannot_listen
from simulators.services.faults import FaultPlan, parse_fault
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer, wait_forever
from simulators.services.vpic import NhtsaApp

__all__ = ["manufacturer_main", "nhtsa_main"]


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 3600_000:
        raise argparse.ArgumentTypeError(f"{text} is outside 0-3600000")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0, help="added to every reply")
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


def _serve(name: str, args: argparse.Namespace, make: Callable[[], ServiceServer]) -> int:
    """Serve until Ctrl-C; a port that cannot be bound is one line and exit 1."""
    try:
        server = make()
    except OSError as exc:
        return cannot_listen(f"baygate simulate {name}", args.host, args.port, exc)
    return wait_forever(server, _announce(name))


def nhtsa_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="baygate simulate nhtsa",
        description="Fake NHTSA vPIC (/api/vehicles/...) and recalls API",
        epilog="example:\n  baygate simulate nhtsa --port 8082 --latency-ms 100 --fault 503 --fault ok",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    args = parser.parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        parser.error(str(exc))
    app = NhtsaApp()
    return _serve("nhtsa", args, lambda: ServiceServer(app, port=args.port, host=args.host, plan=plan))


def manufacturer_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="baygate simulate manufacturer",
        description="Fake manufacturer warranty APIs (OAuth2) and registration form",
        epilog="example:\n  baygate simulate manufacturer --port 8083 --token-ttl 60",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser)
    parser.add_argument("--client-id", default="baygate-demo", help="OAuth2 client id it accepts")
    parser.add_argument("--client-secret", default="demo-secret", help="OAuth2 client secret it accepts")
    parser.add_argument("--api-key", default="demo-api-key", help="API key it accepts (key-auth makers)")
    parser.add_argument(
        "--token-ttl", type=_non_negative, default=3600.0, help="access token lifetime, seconds"
    )
    args = parser.parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        parser.error(str(exc))
    app = ManufacturerApp(args.client_id, args.client_secret, args.api_key, args.token_ttl)
    return _serve("manufacturer", args, lambda: ServiceServer(app, port=args.port, host=args.host, plan=plan))
