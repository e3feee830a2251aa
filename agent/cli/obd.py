"""`baygate obd`: talk to an OBD2 dongle: discover, read, watch, clear.

    baygate obd discover [--timeout S] [--all] [--json]
    baygate obd read --url URL [--monitors] [--json]
    baygate obd watch --url URL --pids RPM,SPEED,... [--hz N] [--duration S] [--json]
    baygate obd clear --url URL --confirm [--json]

`clear` (Mode 04) erases stored and pending DTCs, freeze frames, Mode 06 results and
readiness: it needs --confirm and the engine off (RPM 0, ignition on), and prints the
dtc_clear record it makes (outcome cleared, refused or failed). Exit 0 cleared, 1
refused or failed, 2 without --confirm.

URL: tcp://host:port, serial:///dev/ttyUSB0[?baud=N], ble://ADDRESS[?layout=fff0] or
ble://name=NAME. --simulated-ble [PROFILE] puts the ELM327 simulator's fake radio under
`discover` and ble:// URLs (agent/cli/simulated_ble.py). With --json, `read` prints one
object; `watch` prints one object per reading and a final {"summary": {"values_per_s": ...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from agent.cli import simulated_ble
from agent.cli.argtypes import number, seconds
from agent.config import Config
from agent.pipelines.dtc_clear import clear_and_check
from agent.pipelines.sink import MemorySink
from agent.pipelines.vehicle import dongle_store, report_json, sample_json
from agent.records import utcnow
from drivers.obd2 import diagnostics as diag
from drivers.obd2.discovery import discover
from drivers.obd2.errors import BadURL, DecodeError, OBDError
from drivers.obd2.pids import BY_NAME, lookup
from drivers.obd2.report import read_report
from drivers.obd2.scheduler import MAX_HZ, MIN_HZ, PidScheduler, poll
from drivers.obd2.session import Session
from drivers.obd2.store import DongleStore, MemoryStore
from drivers.obd2.transports import transport_for_url

HELP = "talk to an OBD2 dongle: discover, read, watch, clear"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    d = sub.add_parser("discover", help="scan BLE for OBD dongles")
    d.add_argument("--timeout", type=seconds(600), default=5.0, help="scan seconds (default 5)")
    d.add_argument("--all", action="store_true", help="list every BLE device, not only OBD-looking ones")
    r = sub.add_parser("read", help="VIN, protocol, ECUs, DTCs, readiness, freeze frame, CVNs")
    r.add_argument(
        "--monitors", action="store_true", help="also Mode 06 test results (a request per monitor)"
    )
    c = sub.add_parser("clear", help="clear DTCs (Mode 04): needs --confirm and the engine off")
    c.add_argument("--confirm", action="store_true", help="yes, erase DTCs, freeze frames and readiness")
    w = sub.add_parser("watch", help="stream live PIDs")
    w.add_argument(
        "--pids",
        required=True,
        help="comma-separated PID names or hex codes (0C), e.g. RPM,SPEED,COOLANT_TEMP; known names: "
        + ", ".join(n for n in BY_NAME if not n.startswith("PIDS_")),
    )
    w.add_argument(
        "--hz",
        type=number(MIN_HZ, MAX_HZ, low_open=False),
        default=None,
        help=f"per-PID rate {MIN_HZ}-{MAX_HZ} (default: max)",
    )
    w.add_argument(
        "--duration", type=seconds(7 * 86400), default=None, help="stop after S seconds (default: Ctrl-C)"
    )
    for p in (r, w, c):
        p.add_argument("--url", required=True, help="tcp://host:port, serial:///dev/X, ble://ADDR")
        p.add_argument(
            "--timeout", type=seconds(60), default=2.0, help="per-command deadline in s (default 2)"
        )
    for p in (d, r, w, c):
        p.add_argument("--json", action="store_true", help="machine-readable output")
        simulated_ble.add_option(p)


def run(args: argparse.Namespace, config: Config | None) -> int:
    try:
        return asyncio.run(_main(args, config))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, config: Config | None) -> int:
    try:
        if args.action == "discover":
            return await _discover(args)
        if args.action == "clear" and not args.confirm:
            print(
                "baygate obd: clear erases DTCs, freeze frames and readiness; add --confirm to do it",
                file=sys.stderr,
            )
            return 2
        store: DongleStore = dongle_store(config.agent.state_dir) if config else MemoryStore()
        transport = transport_for_url(args.url, **simulated_ble.backends(args))
        session = Session(transport, dongle=args.url, store=store, timeout=args.timeout)
        if args.action == "watch":
            pids = [lookup(p) for p in args.pids.split(",") if p.strip()]
            if args.hz is not None and not MIN_HZ <= args.hz <= MAX_HZ:
                print(f"baygate obd: --hz must be {MIN_HZ}-{MAX_HZ}", file=sys.stderr)
                return 2
        await session.connect()
        try:
            if args.action == "read":
                return await _read(args, session)
            if args.action == "clear":
                return await _clear(args, session)
            return await _watch(args, session, pids)
        finally:
            await session.close()
    except (BadURL, DecodeError) as exc:
        print(f"baygate obd: {exc}", file=sys.stderr)
        return 2
    except OBDError as exc:
        print(f"baygate obd: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _discover(args: argparse.Namespace) -> int:
    radio = simulated_ble.backends(args)
    found = await discover(args.timeout, backend=radio.get("ble_scanner_backend"), everything=args.all)
    if args.json:
        for c in found:
            print(json.dumps({"name": c.name, "address": c.address, "rssi": c.rssi, "layout": c.layout}))
        return 0
    if not found:
        print("no OBD dongles seen (is it powered, in range, not connected to a phone?)")
    for c in found:
        rssi = c.rssi if c.rssi is not None else "?"
        print(f"{c.address:20} {rssi:>5} dBm  {c.layout or '-':5} {c.name or ''}")
    return 0


async def _clear(args: argparse.Namespace, session: Session) -> int:
    """Mode 04 with the DTCs read before and after; the outcome is a dtc_clear record."""
    vin: str | None = None
    with contextlib.suppress(OBDError):
        vin = (await diag.read_vin(session))[0]
    done = await clear_and_check(session, confirm=args.confirm)
    sink = MemorySink()
    await sink.emit("dtc_clear", done.body(args.url, vin))
    if done.outcome == "refused":
        _print_record(args, sink, f"not cleared: {done.reason}")
    else:
        _print_record(args, sink, done.reason or f"cleared {done.cleared} DTC(s) on {', '.join(done.ecus)}")
    return 0 if done.outcome == "cleared" else 1


def _print_record(args: argparse.Namespace, sink: MemorySink, line: str) -> None:
    if args.json:
        print(sink.records[-1].model_dump_json())
    else:
        print(line)


async def _read(args: argparse.Namespace, session: Session) -> int:
    rep = await read_report(session, monitors=args.monitors)
    out = report_json(rep)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"VIN:        {rep.vin or '-'}" + ("" if rep.vin_valid or not rep.vin else "  (check digit WRONG)"))
    print(f"protocol:   {rep.protocol}")
    print(f"ECUs:       {', '.join(rep.ecus)}")
    for mode, items in out["dtcs"].items():
        codes = ", ".join(f"{d['code']} ({d['description'] or 'manufacturer-specific'})" for d in items)
        print(f"DTCs {mode + ':':10} {codes or 'none'}")
    if rep.readiness:
        r = rep.readiness
        ready = [n for n, m in r.monitors.items() if m["supported"] and m["complete"]]
        not_ready = [n for n, m in r.monitors.items() if m["supported"] and not m["complete"]]
        print(f"MIL:        {'ON' if r.mil else 'off'}, {r.dtc_count} DTC(s), {r.ignition} ignition")
        print(f"ready:      {', '.join(ready) or '-'}")
        print(f"not ready:  {', '.join(not_ready) or '-'}")
    ff = out["freeze_frame"]
    if ff:
        vals = ", ".join(
            f"{v['pid']}={v['value']}{' ' + v['unit'] if v['unit'] else ''}" for v in ff["values"]
        )
        print(f"freeze frame {ff['frame']} ({ff['dtc']}): {vals}")
    for info in rep.ecu_info:
        cal = ", ".join(f"{c} (CVN {v})" for c, v in zip(info.calibration_ids, info.cvns, strict=False))
        print(
            f"ECU {info.ecu}:    {info.name or '-'}; {cal or ', '.join(info.calibration_ids) or 'no CALID'}"
        )
    for t in rep.monitor_tests:
        verdict = "pass" if t.passed else "FAIL"
        unit = f" {t.unit}" if t.unit else ""
        print(f"test {verdict}:  {t.monitor}: {t.name}: {t.value:g}{unit} (limits {t.min:g}..{t.max:g})")
    for e in rep.errors:
        print(f"not read:   {e}")
    return 0


async def _watch(args: argparse.Namespace, session: Session, pids: list[Any]) -> int:
    scheduler = PidScheduler(dict.fromkeys(pids, args.hz))
    started = time.monotonic()
    values = 0
    stream = poll(session, scheduler)
    try:
        async for samples in stream:
            now = utcnow()
            for s in samples:
                values += 1
                if args.json:
                    print(json.dumps(sample_json(s, now)))
                else:
                    unit = s.reading.pid.unit or ""
                    print(f"{now:%H:%M:%S.%f} {s.reading.pid.name:24} {s.reading.value} {unit}".rstrip())
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
    finally:
        await stream.aclose()
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = round(values / elapsed, 1)
    if args.json:
        print(json.dumps({"summary": {"values_per_s": rate}}))
    else:
        print(f"{values} values in {elapsed:.1f} s: {rate} values/s", file=sys.stderr)
    return 0
