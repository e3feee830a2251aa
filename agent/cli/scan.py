"""`baygate scan`: decode barcodes, QR codes and VINs from images or a camera.

baygate scan image PATH... [--json]
    per file: the codes found and the VIN. With --json one object per file per line:
    {"file": ..., "codes": [{"symbology": ..., "payload": ...}], "vin": {"value",
    "source", "verified"} | null}. A file that cannot be read is reported on stderr
    (no JSON line) and makes the exit code 1.
baygate scan camera --source SRC [--duration S] [--json]
    live: prints each scan record (one JSON record per line with --json). A source that
    cannot be opened, or gives no frame, is one line on stderr naming it and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.cli.argtypes import seconds
from agent.config import SHIPPED_MANUFACTURERS, Config
from agent.enrich.connectors.spec import load_serial_rules
from agent.enrich.errors import ConnectorConfigError
from agent.pipelines.camera_sources import build_source
from agent.pipelines.scan_station import ScanStation
from agent.pipelines.sink import MemorySink
from agent.records import Envelope
from drivers.camera import CameraError, FrameScanner, SerialRule, VinOcr, load_image

HELP = "decode barcodes, QR codes and VINs from images or a camera"
NEEDS_CONFIG = False



def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="scan_command", metavar="{image,camera}", required=True)
    img = sub.add_parser("image", help="scan image files")
    img.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files (PNG, JPEG, ...)")
    img.add_argument("--json", action="store_true", help="one JSON object per file per line")
    img.add_argument("--formats", default=None, help="comma-separated symbologies (default: config or all)")
    cam = sub.add_parser("camera", help="scan a live camera or stream")
    cam.add_argument(
        "--source", default=None, help="0, /dev/video0, file, rtsp:// or http:// URL, dir:PATH, sim:"
    )
    cam.add_argument("--camera", default=None, help="camera name in records (default: config name or 'cli')")
    cam.add_argument("--duration", type=seconds(7 * 86400), default=None, help="stop after S seconds")
    cam.add_argument("--json", action="store_true", help="print records as JSON lines")
    cam.add_argument("--no-ocr", action="store_true", help="barcodes only (no VIN OCR)")


def _rules(config: Config | None) -> list[SerialRule]:
    directory = config.enrich.manufacturers_dir if config else SHIPPED_MANUFACTURERS
    return load_serial_rules(directory)


def _formats(args: argparse.Namespace, config: Config | None) -> list[str] | None:
    if getattr(args, "formats", None):
        return [f for f in args.formats.split(",") if f]
    if config and config.cameras:
        return list(config.cameras[0].formats)
    return None


def _scan_images(args: argparse.Namespace, config: Config | None) -> int:
    formats = _formats(args, config)
    ocr = VinOcr()
    scanner = FrameScanner(formats, ocr) if formats else FrameScanner(ocr=ocr)
    failed = 0
    for path in args.paths:
        try:
            result = scanner.scan(load_image(path), with_ocr=True)
        except CameraError as exc:
            print(f"baygate scan: {exc}", file=sys.stderr)
            failed += 1
            continue
        vin = result.best_vin()
        out = {
            "file": str(path),
            "codes": [{"symbology": c.symbology, "payload": c.payload} for c in result.codes],
            "vin": vin.as_dict() if vin else None,
        }
        if args.json:
            print(json.dumps(out), flush=True)
        else:
            print(f"{path}:")
            for c in result.codes:
                print(f"  {c.symbology:<10} {c.payload}")
            if vin:
                state = "verified" if vin.verified else "UNVERIFIED"
                print(f"  VIN        {vin.value} ({vin.source}, {state})")
            if not result.codes and not vin:
                print("  nothing readable" + ("" if result.sharp else " (frame too blurred)"))
    return 1 if failed else 0


class _PrintingSink(MemorySink):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = await super().emit(kind, body, ts)
        if self.as_json:
            print(rec.model_dump_json(), flush=True)
        else:
            vin = body.get("vin")
            extra = f" VIN {vin['value']} ({'verified' if vin['verified'] else 'UNVERIFIED'})" if vin else ""
            print(
                f"{body['symbology']:<10} {body['classification']:<14} {body['payload']}{extra}", flush=True
            )
        return rec


def _scan_camera(args: argparse.Namespace, config: Config | None) -> int:
    cam = config.cameras[0] if config and config.cameras else None
    spec = args.source or (cam.source if cam else None)
    if not spec:
        print("baygate scan camera: give --source (or configure [[cameras]])", file=sys.stderr)
        return 2
    source = build_source(spec, cam.width, cam.height, cam.fps) if cam else build_source(spec)
    # A one-off command fails fast: an unreachable or invalid source is an error naming
    # it, not '0 frames' and exit 0 (the agent's grabber keeps retrying instead).
    try:
        source.open()
    except CameraError as exc:
        print(f"baygate scan camera: cannot read source {spec!r}: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    sink = _PrintingSink(args.json)
    station = ScanStation(
        args.camera or (cam.name if cam else "cli"),
        sink,
        formats=list(cam.formats) if cam else None,
        rules=_rules(config),
        ocr=None if args.no_ocr else VinOcr(),
        dedupe_window_s=cam.dedupe_window_s if cam else 10.0,
    )
    try:
        stats = asyncio.run(station.run(source, duration_s=args.duration))
    except KeyboardInterrupt:
        return 0
    if stats.frames == 0:
        why = f": {stats.source_error}" if stats.source_error else ""
        print(f"baygate scan camera: no frame from source {spec!r}{why}", file=sys.stderr)
        return 1
    print(
        f"{stats.frames} frames in {stats.seconds:.1f} s ({stats.fps:.1f}/s), {stats.records} records",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace, config: Config | None) -> int:
    try:
        if args.scan_command == "image":
            return _scan_images(args, config)
        return _scan_camera(args, config)
    except ConnectorConfigError as exc:
        print(f"baygate scan: {exc}", file=sys.stderr)
        return 2
    except CameraError as exc:
        print(f"baygate scan: {exc}", file=sys.stderr)
        return 1
