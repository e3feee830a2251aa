"""`baygate simulate elm327 ...` / `python -m simulators.elm327 ...`: run a simulated dongle."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from simulators.listening import cannot_listen

from .adapters import ADAPTERS, adapter, list_adapters
from .engine import DEFAULT_VERSION
from .errors import SimulatorError
from .faults import FAULTS, parse_faults
from .profile import list_profiles, load_profile

__all__ = ["main"]

PROG = "baygate simulate elm327"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="An ELM327 OBD2 adapter plugged into a simulated car.",
        epilog="example:\n  baygate simulate elm327 --tcp 127.0.0.1:35000 --profile petrol-can --fault drop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP (like a Wi-Fi dongle)")
    where.add_argument("--pty", action="store_true", help="open a pseudo-terminal and print its path")
    p.add_argument(
        "--profile", default="petrol-can", help="vehicle profile or JSON path (--list-profiles names them)"
    )
    p.add_argument("--rtt-ms", type=float, default=0.0, help="link round trip per command (BLE ~30)")
    p.add_argument("--ecu-ms", type=float, default=0.0, help="ECU response latency (typ. 15)")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:PARAM]",
        help="inject a fault (repeatable): " + ", ".join(FAULTS),
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random faults")
    p.add_argument(
        "--adapter",
        metavar="NAME",
        help="adapter personality (what it refuses, how it prints): " + ", ".join(list_adapters()),
    )
    p.add_argument(
        "--adapter-version",
        default=None,
        help=f"what ATI answers (e.g. 'ELM327 v2.1'; default: the adapter's, or {DEFAULT_VERSION!r})",
    )
    p.add_argument("--list-profiles", action="store_true", help="list bundled profiles and exit")
    p.add_argument("--list-adapters", action="store_true", help="list adapter personalities and exit")
    p.add_argument("--list-faults", action="store_true", help="list fault names and exit")
    return p


def _split_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SimulatorError(f"--tcp wants HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


async def _run(args: argparse.Namespace) -> int:
    from .pty import serve_pty
    from .tcp import serve_tcp

    opts = {
        "profile": args.profile,
        "rtt_ms": args.rtt_ms,
        "ecu_ms": args.ecu_ms,
        "faults": args.fault,
        "seed": args.seed,
        "version": args.adapter_version,
        "adapter": args.adapter,
    }
    if args.pty:
        async with serve_pty(**opts) as pty:
            print(pty.path, flush=True)
            await asyncio.Event().wait()
    host, port = _split_hostport(args.tcp or "127.0.0.1:35000")
    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(serve_tcp(host, port, **opts))
        except OSError as exc:
            return cannot_listen(PROG, host, port, exc)
        who = f"{args.profile}, {args.adapter}" if args.adapter else args.profile
        print(f"elm327 simulator ({who}) on {server.url}", flush=True)
        await asyncio.Event().wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list_profiles:
        for name in list_profiles():
            print(f"{name}: {load_profile(name).description}")
        return 0
    if args.list_adapters:
        for name in list_adapters():
            print(f"{name}: {ADAPTERS[name].description}")
        return 0
    if args.list_faults:
        for name, (default, text) in FAULTS.items():
            print(f"{name}: {text}" + (f" [default {default:g}]" if default else ""))
        return 0
    try:
        load_profile(args.profile)
        parse_faults(args.fault)
        if args.adapter:
            adapter(args.adapter)
        return asyncio.run(_run(args))
    except SimulatorError as exc:
        print(f"elm327 simulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"elm327 simulator: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
