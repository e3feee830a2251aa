"""The scan station: frames -> decode (thread) -> classify -> dedupe -> scan record.

One station per camera. Decoding runs in a worker thread per frame (OpenCV and zxing
release the GIL); VIN OCR runs as its own thread task on the newest sharp frame
whenever the previous OCR finished, so the ~15-60 ms of tesseract per line never holds
back barcode decoding (the camera keeps its frame rate; OCR samples it).

Each new presentation of a code (see drivers/camera/dedupe.py) becomes exactly one
`scan` record through `sink.emit`, which returns only once the record is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.pipelines.sink import RecordSink
from drivers.camera import (
    Code,
    Deduper,
    FrameError,
    FrameGrabber,
    FrameResult,
    FrameScanner,
    FrameSource,
    Health,
    OcrVinVoter,
    PayloadError,
    SerialRule,
    VinCheck,
    VinOcr,
    classify,
)
from drivers.camera.quality import to_gray
from drivers.camera.vinvote import vote_vins
from drivers.obd2.errors import PairingError
from drivers.obd2.pairing import parse_pairing

__all__ = ["ScanStation", "StationStats", "scan_body"]

log = logging.getLogger("baygate.scan")


@dataclass
class StationStats:
    frames: int = 0
    sharp_frames: int = 0
    decodes: int = 0  # codes decoded in frames, before dedupe
    ocr_runs: int = 0
    records: int = 0
    rejected_payloads: int = 0
    record_ids: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # "SYMBOLOGY class payload" per record
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def scan_body(camera: str, code: Code, rules: Iterable[SerialRule]) -> dict[str, Any]:
    """The scan record body for one decoded code (PayloadError if it is unusable)."""
    c = classify(code.symbology, code.payload, rules, code.encoding)
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
        # >= 3 OCR passes x >= 2 frames agreed; verified adds the check digit.
        "confidence": 0.9 if vin.verified else 0.6,
    }


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
    ) -> None:
        self.camera = camera
        self.sink = sink
        self.rules = tuple(rules)
        self.scanner = FrameScanner(formats, ocr) if formats else FrameScanner(ocr=ocr)
        self.ocr = ocr
        self.deduper = Deduper(dedupe_window_s, clock)
        self.voter = OcrVinVoter(min_frames=ocr_frames)
        # OCR samples the stream: a VIN is held up for seconds, and 4 OCR runs a second
        # leave the second core to barcode decoding (2-core Pi).
        self.ocr_interval_s = ocr_interval_s
        self._clock = clock
        self._last_ocr = -float("inf")
        self.stats = StationStats()
        self._ocr_task: asyncio.Task[list[VinCheck]] | None = None
        self._grabber: FrameGrabber | None = None

    def health(self) -> Health | None:
        """The camera's capture health while `run` is active ('degraded' while a lost
        camera is being reopened), else None."""
        return self._grabber.health() if self._grabber is not None else None

    async def _emit(self, symbology: str, payload: str, body: dict[str, Any]) -> None:
        if not self.deduper.first_sighting(self.camera, symbology, payload):
            return
        rid = (await self.sink.emit("scan", body)).id
        self.stats.records += 1
        self.stats.record_ids.append(rid)
        vin = body.get("vin")
        note = f" (VIN {'verified' if vin['verified'] else 'UNVERIFIED'})" if vin else ""
        self.stats.reads.append(f"{symbology} {body['classification']} {payload[:64]}{note}")
        log.info("scan %s %s %s", self.camera, symbology, body["classification"], extra={"record": rid})

    async def handle(self, result: FrameResult) -> None:
        """Classify, dedupe and emit what one frame yielded."""
        for code in result.codes:
            try:
                body = scan_body(self.camera, code, self.rules)
            except PayloadError as exc:
                self.stats.rejected_payloads += 1
                log.warning("payload rejected on %s: %s", self.camera, exc)
                continue
            await self._emit(code.symbology, code.payload, body)

    async def _ocr_done(self) -> None:
        task, self._ocr_task = self._ocr_task, None
        if task is None:
            return
        vin = self.voter.feed(await task)
        if vin is not None:
            await self._emit("TEXT", vin.value, ocr_body(self.camera, vin))

    def _ocr(self, frame: np.ndarray) -> list[VinCheck]:
        assert self.ocr is not None
        return vote_vins(self.ocr.read_lines(to_gray(frame)))

    async def process(self, frame: np.ndarray) -> FrameResult | None:
        """One frame through the pipeline; a bad frame is counted, logged and skipped."""
        try:
            result = await asyncio.to_thread(self.scanner.scan, frame, False)
        except FrameError as exc:
            log.warning("frame skipped on %s: %s", self.camera, exc)
            return None
        self.stats.frames += 1
        self.stats.sharp_frames += result.sharp
        self.stats.decodes += len(result.codes)
        await self.handle(result)
        if self._ocr_task is not None and self._ocr_task.done():
            await self._ocr_done()
        barcode_vin = any(v.verified for v in result.barcode_vins)
        due = self._clock() - self._last_ocr >= self.ocr_interval_s
        if self.ocr is not None and result.sharp and self._ocr_task is None and not barcode_vin and due:
            self._last_ocr = self._clock()
            self.stats.ocr_runs += 1
            self._ocr_task = asyncio.create_task(asyncio.to_thread(self._ocr, frame))
        return result

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
                item = await asyncio.to_thread(grabber.latest, 0.5)
                if item is None:
                    if grabber.health().state == "ended":
                        break
                    continue
                await self.process(item[1])
            if self._ocr_task is not None:
                await self._ocr_done()
        finally:
            await asyncio.to_thread(grabber.stop)
            self._grabber = None
            self.stats.seconds = time.monotonic() - start
        return self.stats
