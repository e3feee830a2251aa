"""The scan station: frames -> decode (thread) -> classify -> dedupe -> scan record.

One station per camera. Decoding runs in a worker thread per frame (OpenCV and zxing
release the GIL); VIN OCR (the scanner's one OCR step, FrameScanner.read_vins) runs as
its own thread task whenever the previous OCR finished and the interval passed, on the
sharpest frame seen since the last OCR started: the sharpness score orders the work, it
never rules a frame out. The ~0.3 s of OCR per frame never holds back barcode decoding
(the camera keeps its frame rate; OCR samples it).

Each new presentation of a code (see drivers/camera/dedupe.py) becomes exactly one
`scan` record through `sink.emit`, which returns only once the record is committed.

An empty bay costs little (issue 12): frames stay compressed until the change gate lets
one through (drivers/camera/frame.py: the gate looks at a 1/8 scale grey decode of an
MJPEG camera's JPEG, only changed frames are decoded in full), and while the scene
rests (nothing read, no OCR pending, outside the gate's settle window) the run loop
takes a frame every `idle_look_s` (0.2 s) instead of all 15 a second; the grabber keeps
only the newest, so a label put in view waits at most that long to be looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from agent.pipelines.sink import RecordRefusedError, RecordSink
from drivers.camera import (
    Classified,
    Code,
    Deduper,
    Frame,
    FrameError,
    FrameGrabber,
    FrameResult,
    FrameScanner,
    FrameSource,
    Health,
    OcrVinVoter,
    SerialRule,
    VinCheck,
    VinOcr,
    classify,
)
from drivers.camera.change import ChangeGate
from drivers.camera.frame import as_frame
from drivers.camera.symbology import DEFAULT_FORMATS
from drivers.obd2.errors import PairingError
from drivers.obd2.pairing import parse_pairing

__all__ = ["ScanStation", "StationStats", "scan_body"]

OCR_NICE = 10
# While the scene rests, look at 5 frames a second, not 15: a label waits at most
# 0.2 s more to be seen (the target is label-to-record <= 0.5 s; it took 0.07 s), and
# the skipped frames are not even looked at (a 1/8 decode of a noisy 720p JPEG: 2.2 ms).
IDLE_LOOK_S = 0.2
log = logging.getLogger("baygate.scan")


@dataclass
class StationStats:
    frames: int = 0
    sharp_frames: int = 0
    decodes: int = 0  # codes decoded in frames, before dedupe
    unchanged_frames: int = 0  # skipped by the change gate (nothing new in view)
    ocr_runs: int = 0
    records: int = 0
    rejected_payloads: int = 0
    refused: int = 0  # scans the sink refused (disk full)
    record_ids: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # "SYMBOLOGY class payload" per record
    seconds: float = 0.0
    source_error: str | None = None  # the capture's last error, if any

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def scan_body(camera: str, code: Code, rules: Iterable[SerialRule]) -> dict[str, Any]:
    """The scan record body for one decoded code (PayloadError if it is unusable)."""
    return read_body(camera, code, classify(code.symbology, code.payload, rules, code.encoding))


def read_body(camera: str, code: Code, c: Classified) -> dict[str, Any]:
    """The scan record body for one code the scanner already classified."""
    kind, fields = c.kind, c.fields
    if kind == "dongle_pairing":
        # The camera only recognises the prefix; the OBD driver's parser (the one that
        # percent-decodes and checks the address) reads the sticker.
        try:
            p = parse_pairing(code.payload)
            fields = {"address": p.address, "url": p.url}
            fields |= {k: v for k, v in (("layout", p.layout), ("name", p.name), ("bay", p.bay)) if v}
        except PairingError:
            kind, fields = "raw", {}
    body: dict[str, Any] = {
        "camera": camera,
        "symbology": code.symbology,
        "payload": code.payload,
        "payload_encoding": code.encoding,
        "classification": kind,
        "fields": fields,
        "confidence": round(code.confidence, 3),
    }
    if c.vin is not None:
        body["vin"] = {"value": c.vin.value, "source": "barcode", "verified": c.vin.verified}
    if c.serial is not None:
        body["serial"] = {"manufacturer": c.serial.manufacturer, "serial": c.serial.serial}
    return body


def ocr_body(camera: str, vin: VinCheck) -> dict[str, Any]:
    return {
        "camera": camera,
        "symbology": "TEXT",
        "payload": vin.value,
        "classification": "vin",
        "vin": {"value": vin.value, "source": "ocr", "verified": vin.verified},
        # one text box, check digit verified, the same VIN on >= 2 OCR'd frames.
        "confidence": 0.9 if vin.verified else 0.6,
    }


# A niced PP-OCR read takes ~0.3 s idle and a few seconds on a loaded Pi; the agent's
# shutdown bound is 30 s (agent/service/shutdown.py).
OCR_DRAIN_S = 10.0


def _lower_priority() -> None:
    """Set this thread's nice value to OCR_NICE (Linux: per thread; lowering priority
    needs no privilege)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), OCR_NICE)


class ScanStation:
    def __init__(
        self,
        camera: str,
        sink: RecordSink,
        *,
        formats: list[str] | tuple[str, ...] | None = None,
        rules: Iterable[SerialRule] = (),
        ocr: VinOcr | None = None,
        dedupe_window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        ocr_frames: int = 2,
        ocr_interval_s: float = 0.25,
        change_gate: bool = True,
        idle_look_s: float = IDLE_LOOK_S,
    ) -> None:
        self.camera = camera
        self.sink = sink
        self.rules = tuple(rules)
        self.scanner = FrameScanner(formats or DEFAULT_FORMATS, ocr, rules=self.rules)
        self.ocr = ocr
        self.deduper = Deduper(dedupe_window_s, clock)
        self.voter = OcrVinVoter(min_frames=ocr_frames)
        # OCR samples the stream: a VIN is held up for seconds, and 4 OCR runs a second
        # leave the second core to barcode decoding (2-core Pi).
        self.ocr_interval_s = ocr_interval_s
        self._clock = clock
        self._last_ocr = -float("inf")
        self.stats = StationStats()
        self._ocr_task: asyncio.Future[list[VinCheck]] | None = None
        self._best: tuple[float, np.ndarray] | None = None  # sharpest frame since the last OCR
        # Decode only what changed: an empty bay costs the gate's 0.3 ms a frame, not
        # decoding and OCR (drivers/camera/change.py). Idle = the last decoded frame had
        # nothing and no OCR is running or waiting for its confirming frame.
        self.gate = ChangeGate(clock=clock) if change_gate else None
        self._idle = False
        self._ocr_pending = False
        self.idle_look_s = idle_look_s
        self._looked_at = -float("inf")
        self._grabber: FrameGrabber | None = None

    def health(self) -> Health | None:
        """The camera's capture health while `run` is active ('degraded' while a lost
        camera is being reopened), else None."""
        return self._grabber.health() if self._grabber is not None else None

    async def _emit(self, symbology: str, payload: str, body: dict[str, Any]) -> None:
        if not self.deduper.is_new(self.camera, symbology, payload):
            return
        try:
            rid = (await self.sink.emit("scan", body)).id
        except RecordRefusedError as exc:  # disk full: not taken, the technician sees why
            self.stats.refused += 1
            n = self.stats.refused
            if n & (n - 1) == 0:  # once per burst: the 1st, 2nd, 4th, 8th... refusal
                log.error("scan on %s not taken (%d so far): %s", self.camera, n, exc)
            return  # not seen: the next sighting of the code is reported again
        self.deduper.seen(self.camera, symbology, payload)
        self.stats.records += 1
        self.stats.record_ids.append(rid)
        vin = body.get("vin")
        note = f" (VIN {'verified' if vin['verified'] else 'UNVERIFIED'})" if vin else ""
        self.stats.reads.append(f"{symbology} {body['classification']} {payload[:64]}{note}")
        log.info("scan %s %s %s", self.camera, symbology, body["classification"], extra={"record": rid})

    async def handle(self, result: FrameResult) -> None:
        """Classify, dedupe and emit what one frame yielded."""
        for read in result.reads:
            code = read.code
            if read.classified is None:
                self.stats.rejected_payloads += 1
                log.warning("payload rejected on %s: %s", self.camera, read.error)
                continue
            await self._emit(code.symbology, code.payload, read_body(self.camera, code, read.classified))

    async def _ocr_done(self) -> None:
        task, self._ocr_task = self._ocr_task, None
        if task is None:
            return
        vins = await task
        vin = self.voter.feed(vins)
        # A candidate waiting for its confirming frame keeps the scene 'busy'.
        self._ocr_pending = bool(vins) and vin is None
        if vin is not None:
            await self._emit("TEXT", vin.value, ocr_body(self.camera, vin))

    def rest_s(self) -> float:
        """How long the run loop may wait before it takes the next frame: until
        `idle_look_s` after the last look while the scene rests, else 0."""
        if self.gate is None or not self._idle or self._ocr_pending or self._ocr_task is not None:
            return 0.0
        if self.gate.moved_recently():
            return 0.0
        return max(0.0, self._looked_at + self.idle_look_s - self._clock())

    async def process(self, frame: Frame | np.ndarray) -> FrameResult | None:
        """One frame through the pipeline; a bad frame is counted, logged and skipped;
        an unchanged frame of an idle scene is counted and skipped (and, when it came
        as a JPEG, never decoded in full)."""
        frame = as_frame(frame, self.camera)
        if self._ocr_task is not None and self._ocr_task.done():
            await self._ocr_done()
        if self.gate is not None:
            self._looked_at = self._clock()
            try:
                changed = self.gate.changed(frame)
            except (FrameError, cv2.error, AttributeError, TypeError, ValueError):
                changed = True  # not an image: let the scanner say what is wrong with it
            if self._idle and not self._ocr_pending and not changed:
                self.stats.unchanged_frames += 1
                return None
            if changed and self.gate.moved_recently() and self._ocr_task is None:
                self._best = None  # a new scene: OCR the sharpest frame of it, not of the last
        try:
            result = await asyncio.to_thread(self._scan, frame)
        except FrameError as exc:
            log.warning("frame skipped on %s: %s", self.camera, exc)
            return None
        self.stats.frames += 1
        self.stats.sharp_frames += result.sharp
        self.stats.decodes += len(result.codes)
        await self.handle(result)
        self._idle = not result.reads and not self._ocr_pending
        if self.ocr is None or any(v.verified for v in result.barcode_vins):
            return result
        if self._best is None or result.sharpness >= self._best[0]:
            self._best = (result.sharpness, frame.image)  # decoded by _scan
        due = self._clock() - self._last_ocr >= self.ocr_interval_s
        # OCR (~0.3 s) looks at what just changed or waits for its confirming frame,
        # not at a heartbeat frame of an empty bay.
        wanted = self.gate is None or self.gate.moved_recently() or self._ocr_pending
        if self._ocr_task is None and due and wanted:
            self._last_ocr = self._clock()
            self.stats.ocr_runs += 1
            best, self._best = self._best[1], None
            self._ocr_task = self._ocr_in_thread(best)
        return result

    def _scan(self, frame: Frame) -> FrameResult:
        """The full decode (if the frame is still a JPEG) and the scan, in a thread."""
        return self.scanner.scan(frame.image, False)

    def _take(self, grabber: FrameGrabber, timeout: float) -> tuple[int, Frame] | None:
        """The newest frame, with the gate's tiny copy made here in the worker thread
        rather than on the event loop (2.2 ms of JPEG decoding at 720p)."""
        item = grabber.latest(timeout)
        if item is not None and self.gate is not None:
            with contextlib.suppress(FrameError, cv2.error, AttributeError, TypeError, ValueError):
                item[1].small()  # a frame that cannot be looked at: process() says why
        return item

    async def _drain_ocr(self) -> None:
        """Let a running OCR read finish before the station ends, within OCR_DRAIN_S:
        ONNX Runtime's C++ threads still inside a read when the interpreter exits abort
        the process ("terminate called without an active exception", exit -6)."""
        task = self._ocr_task
        if task is None or task.done():
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            async with asyncio.timeout(OCR_DRAIN_S):
                await asyncio.shield(task)

    def _ocr_in_thread(self, frame: np.ndarray) -> asyncio.Future[list[VinCheck]]:
        """OCR on its own thread, at lower priority: on 2 cores under load, PP-OCR
        (~0.3 s a frame) at the decoder's priority held the live path to 24-25 frames/s;
        niced by 10, 37-42 in the same run (OCR then ran 2 times in 4 s instead of 6-8).
        ONNX Runtime's pool threads are created by the first caller and inherit its
        niceness. A daemon thread, not an executor's: the station drains a running read
        for at most OCR_DRAIN_S when it ends (`_drain_ocr`); past that, shutdown does
        not wait for it (an executor's workers are joined at interpreter exit)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[VinCheck]] = loop.create_future()

        def settle(result: list[VinCheck] | None, exc: BaseException | None) -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result or [])

        def work() -> None:
            _lower_priority()
            try:
                result, exc = self.scanner.read_vins(frame), None
            except Exception as e:  # handed to the awaiting task, which logs it
                result, exc = None, e
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(settle, result, exc)

        threading.Thread(target=work, name=f"ocr-{self.camera}", daemon=True).start()
        return fut

    async def run(
        self, source: FrameSource, duration_s: float | None = None, max_frames: int | None = None
    ) -> StationStats:
        """Read `source` through a newest-frame grabber until it ends, `duration_s`
        passes or `max_frames` were processed."""
        grabber = self._grabber = FrameGrabber(source).start()
        start = time.monotonic()
        try:
            while max_frames is None or self.stats.frames < max_frames:
                if duration_s is not None and time.monotonic() - start >= duration_s:
                    break
                if (rest := self.rest_s()) > 0:
                    await asyncio.sleep(rest)  # the grabber keeps the newest meanwhile
                item = await asyncio.to_thread(self._take, grabber, 0.5)
                if item is None:
                    if grabber.health().state == "ended":
                        break
                    continue
                await self.process(item[1])
            if self._ocr_task is not None:
                await self._ocr_done()
        finally:
            await asyncio.to_thread(grabber.stop)
            await self._drain_ocr()
            self.stats.source_error = grabber.health().last_error
            self._grabber = None
            self.stats.seconds = time.monotonic() - start
        return self.stats
