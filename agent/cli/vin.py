"""`baygate vin`: decode a VIN offline and through NHTSA; list recalls"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from agent.cli.argtypes import model_year
from agent.config import Config, EnrichSection
from agent.enrich.db import StateDB
from agent.enrich.errors import EnrichError, RemoteError
from agent.enrich.factory import build_nhtsa, build_resilience, state_path
from agent.enrich.nhtsa import DecodeResult, NhtsaClient
from agent.enrich.summary import decode_json
from agent.enrich.vin import VinInfo, decode_offline

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "decode a VIN offline and through NHTSA; list recalls"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    d = sub.add_parser("decode", help="offline facts at once, NHTSA vPIC data when reachable")
    d.add_argument("vin", help="the VIN, 17 characters (spaces and dashes are ignored)")
    d.add_argument("--year", type=model_year, default=None, help="model year hint for vPIC")
    d.add_argument("--offline", action="store_true", help="do not ask NHTSA")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    _url_flags(d)
    r = sub.add_parser("recalls", help="open recalls for the VIN's make/model/year")
    r.add_argument("vin", help="the VIN, 17 characters (spaces and dashes are ignored)")
    r.add_argument("--year", type=model_year, default=None, help="model year, if the VIN's is ambiguous")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    _url_flags(r)


def _url_flags(parser: argparse.ArgumentParser) -> None:
    # Each flag overrides the config key of the same name, with the same meaning.
    parser.add_argument(
        "--vpic-url", default=None, metavar="URL",
        help="vPIC base URL, overrides enrich.nhtsa.vpic_url (real: https://vpic.nhtsa.dot.gov/api/vehicles/;"
        " simulator: http://HOST:PORT/api/vehicles/)",
    )
    parser.add_argument(
        "--recalls-url", default=None, metavar="URL",
        help="recalls API base URL, overrides enrich.nhtsa.recalls_url (real: https://api.nhtsa.gov/;"
        " simulator: http://HOST:PORT/)",
    )


async def _client(config: Config | None, args: argparse.Namespace) -> tuple[NhtsaClient, StateDB | None]:
    section = config.enrich if config else EnrichSection()
    urls = {k: v for k, v in (("vpic_url", args.vpic_url), ("recalls_url", args.recalls_url)) if v}
    if urls:
        section = section.model_copy(update={"nhtsa": section.nhtsa.model_copy(update=urls)})
    db = None
    if config is not None:
        try:
            db = await StateDB.open(state_path(config.agent.state_dir))
        except EnrichError:
            db = None  # no writable state dir (a workstation): decode without a persistent cache
    res = build_resilience(section, db)
    return build_nhtsa(section, db, res), db


async def _decode(
    args: argparse.Namespace, config: Config | None
) -> tuple[VinInfo, DecodeResult | None, str | None]:
    info = decode_offline(args.vin)
    if args.offline or not info.valid:
        return info, None, None
    client, db = await _client(config, args)
    try:
        return info, await client.decode(info.vin, args.year or None), None
    except RemoteError as exc:
        return info, None, str(exc)
    finally:
        await client.aclose()
        if db:
            await db.aclose()


def _shown(value: object) -> str:
    """A value for a terminal: '-' for nothing, control and non-ASCII bytes escaped
    (a pasted label must not repaint the screen or ring the bell)."""
    if value is None or value == "":
        return "-"
    out = []
    for ch in str(value):
        if ch.isascii() and ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _print_offline(info: VinInfo) -> None:
    cd = {True: "check digit ok", False: "CHECK DIGIT WRONG", None: "check digit not verifiable"}
    verdict = "valid" if info.acceptable else "INVALID"
    why = ""
    if info.valid and not info.acceptable:
        why = " (North American VINs must carry a correct check digit: a misread or a forged VIN)"
    print(f"VIN {_shown(info.vin)}: {verdict}, {cd[info.check_digit_ok]}{why}")
    where = f"{info.manufacturer or '?'}, {info.country or '?'}"
    print(f"  offline: {where}, model year {info.model_year or '?'}")
    for p in info.problems:
        print(f"  problem: {_shown(p)}")


def _print_nhtsa(out: dict[str, Any]) -> None:
    n = out["nhtsa"]
    if n is None:
        print(f"  nhtsa: {out['nhtsa_error']}")
        return
    tag = n["source"] + (", STALE" if out["stale"] else "")
    eng = n["engine"] or {}
    engine = " ".join(
        str(x) for x in (eng.get("displacement_l") and f"{eng['displacement_l']} L",
                         eng.get("cylinders") and f"{eng['cylinders']} cyl") if x
    )  # fmt: skip
    what = " ".join(_shown(x) for x in (n["make"], n["model"], n["model_year"]) if x is not None)
    trim = f" {n['trim']}" if n["trim"] else ""
    print(f"  nhtsa ({tag}): {what or 'nothing decoded'}{trim}")
    print(f"    body {_shown(n['body_class'])}, engine {engine or '-'}, fuel {_shown(n['fuel_type'])}")
    print(f"    plant {_shown(n['plant_country'])}")
    codes = ", ".join(str(c) for c in n["error_codes"]) or "-"
    suggested = f", suggested VIN {n['suggested_vin']}" if n["suggested_vin"] else ""
    print(f"    vPIC error codes {codes}{suggested}")


async def _recalls(args: argparse.Namespace, config: Config | None) -> tuple[int, dict[str, Any]]:
    info = decode_offline(args.vin)
    client, db = await _client(config, args)
    try:
        dec = await client.decode(info.vin, args.year or info.model_year)
        v = dec.vehicle
        year = v.model_year or info.model_year
        if not (v.make and v.model and year):
            return 1, {"vin": info.vin, "error": "vPIC could not decode make/model/year", "recalls": []}
        rec = await client.recalls(v.make, v.model, year, v.series)
    except RemoteError as exc:
        return 1, {"vin": info.vin, "error": str(exc), "recalls": []}
    finally:
        await client.aclose()
        if db:
            await db.aclose()
    return 0, {
        "vin": info.vin,
        "make": v.make,
        "model": v.model,
        "model_year": year,
        "model_matched": rec.model_matched,
        "models_tried": rec.model_tried,
        "stale": dec.stale or rec.stale,
        "recalls": [r.__dict__ for r in rec.recalls],
    }


def run(args: argparse.Namespace, config: Config | None) -> int:
    if args.action == "decode":
        if args.json:
            info, result, error = asyncio.run(_decode(args, config))
            print(json.dumps(decode_json(info, result, error)))
            return 0 if info.acceptable else 1
        # The offline facts first, at once: NHTSA may take its whole timeout.
        info = decode_offline(args.vin)
        _print_offline(info)
        if args.offline:
            print("  nhtsa: not asked (--offline)")
        elif not info.valid:
            print("  nhtsa: not asked (not a VIN)")
        else:
            sys.stdout.flush()
            info, result, error = asyncio.run(_decode(args, config))
            _print_nhtsa(decode_json(info, result, error))
        return 0 if info.acceptable else 1
    code, rec = asyncio.run(_recalls(args, config))
    if args.json:
        print(json.dumps(rec))
    elif "error" in rec:
        print(f"VIN {rec['vin']}: {rec['error']}")
    else:
        stale = " (STALE)" if rec["stale"] else ""
        print(f"{rec['make']} {rec['model']} {rec['model_year']}: {len(rec['recalls'])} recall(s){stale}")
        for r in rec["recalls"]:
            flags = " PARK OUTSIDE" if r["park_outside"] else ""
            print(f"  {r['campaign']}  {r['report_received']}  {r['component']}{flags}")
            print(f"    {r['summary']}")
    return code
