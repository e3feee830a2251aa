"""`baygate simulate camera` (or `python -m simulators.camera`): write a labelled scene
set with --out DIR, and/or serve an MJPEG stream with --mjpeg HOST:PORT."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from simulators.camera.dataset import write_set
from simulators.camera.errors import SimulatorError
from simulators.camera.scenes import DEGRADATIONS, KINDS, scene_set
from simulators.camera.stream import MjpegServer, SceneStream
from simulators.listening import cannot_listen

__all__ = ["main"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (32 <= w <= 4096 and 32 <= h <= 4096):
        raise argparse.ArgumentTypeError("width and height must be 32-4096")
    return w, h


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:8090")
    return host, int(port)


def _csv(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x for x in text.split(",") if x)
        bad = [x for x in items if x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items

    return parse


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="baygate simulate camera",
        description=__doc__,
        epilog="examples:\n  baygate simulate camera --out /tmp/scenes --kinds qrcode,vin_plate"
        " --degradations clean,blur\n  baygate simulate camera --mjpeg 127.0.0.1:8081 --kinds gs1_datamatrix",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, help="write a labelled scene set (PNGs + manifest.json) here")
    p.add_argument("--mjpeg", type=_hostport, metavar="HOST:PORT", help="serve an MJPEG stream here")
    p.add_argument(
        "--kinds",
        type=_csv(KINDS),
        default=KINDS,
        help=f"comma-separated scene kinds (default all): {', '.join(KINDS)}",
    )
    p.add_argument(
        "--degradations",
        type=_csv(DEGRADATIONS),
        default=DEGRADATIONS,
        help=f"comma-separated image degradations (default all): {', '.join(DEGRADATIONS)}",
    )
    p.add_argument("--per-cell", type=int, default=1, help="scenes per (kind, degradation)")
    p.add_argument("--size", type=_size, default=(1280, 720), help="frame size WIDTHxHEIGHT")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed draws the same scenes")
    p.add_argument("--fps", type=float, default=10.0, help="MJPEG frame rate")
    p.add_argument("--hold", type=int, default=10, help="MJPEG frames per scene")
    p.add_argument("--duration", type=float, default=None, help="stop the MJPEG server after S seconds")
    args = p.parse_args(argv)
    if args.out is None and args.mjpeg is None:
        p.error("give --out DIR and/or --mjpeg HOST:PORT")
    try:
        if args.out is not None:
            scenes = scene_set(args.kinds, args.degradations, max(1, args.per_cell), args.size, args.seed)
            manifest = write_set(scenes, args.out)
            print(f"wrote {len(scenes)} scenes and {manifest}")
        if args.mjpeg is not None:
            pairs = [(k, d) for k in args.kinds for d in args.degradations]
            stream = SceneStream(pairs, args.size, hold=args.hold, seed=args.seed)
            try:
                mjpeg = MjpegServer(stream, args.mjpeg[0], args.mjpeg[1], fps=args.fps)
            except OSError as exc:
                return cannot_listen("baygate simulate camera", args.mjpeg[0], args.mjpeg[1], exc)
            with mjpeg as server:
                print(f"serving MJPEG on {server.url} (Ctrl-C stops)", flush=True)
                deadline = None if args.duration is None else time.monotonic() + args.duration
                try:
                    while deadline is None or time.monotonic() < deadline:
                        time.sleep(0.2)
                except KeyboardInterrupt:
                    pass
    except SimulatorError as exc:
        print(f"simulate camera: {exc}", file=sys.stderr)
        return 2
    return 0
