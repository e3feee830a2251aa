"""Demo step: the camera simulator serves MJPEG over HTTP; the scan station reads that
real stream through the driver's URL source and emits scan records into ctx.sink."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from agent.pipelines.scan_station import ScanStation
from agent.records import ScanRecord
from drivers.camera import OpenCVSource, VinOcr
from simulators.camera.stream import MjpegServer, SceneStream

if TYPE_CHECKING:  # agent.demo.runner imports this module for STEPS
    from agent.demo.runner import DemoContext

__all__ = ["step"]

_SCENES = [("qrcode", "clean"), ("door_jamb", "rotated"), ("gs1_datamatrix", "clean"), ("code128", "tilt")]


def _read_line(rec: ScanRecord) -> str:
    """What was read and what it means: a Code 39 VIN label often carries an import
    prefix (18 characters, e.g. 'I' + VIN); the record's VIN is the 17 it carries."""
    line = f"{rec.symbology} {rec.classification} {rec.payload[:64]}"
    if rec.vin is not None:
        check = "check digit ok" if rec.vin.verified else "NOT verified"
        line += f" = VIN {rec.vin.value} ({check})" if rec.vin.value != rec.payload else f" ({check})"
    return line


async def step(ctx: DemoContext) -> None:
    stream = SceneStream(_SCENES, (1280, 720), hold=8)
    server: AbstractContextManager[MjpegServer] = MjpegServer(stream, fps=10.0)
    mjpeg = ctx.stack.enter_context(server)
    ctx.services["camera_mjpeg"] = mjpeg.url
    ctx.say(f"camera simulator: MJPEG on {mjpeg.url}")
    station = ScanStation("demo-cam", ctx.sink, ocr=VinOcr(), dedupe_window_s=30.0)
    started = time.monotonic()
    stats = await station.run(OpenCVSource(mjpeg.url), duration_s=5.0)
    wall = time.monotonic() - started
    ctx.say(f"read {stats.frames} frames in {wall:.1f} s ({stats.fps:.1f}/s), {stats.records} scan records")
    by_id = {getattr(r, "id", None): r for r in getattr(ctx.sink, "records", [])}
    for rid, read in zip(stats.record_ids, stats.reads, strict=True):
        rec = by_id.get(rid)
        ctx.say(f"  {_read_line(rec) if isinstance(rec, ScanRecord) else read}  [{rid}]")
    truth = {(c["symbology"], c["payload"]) for s in stream.shown for c in s.codes}
    if stats.records == 0 or not truth:
        raise RuntimeError("the scan station read nothing from the simulated camera")
