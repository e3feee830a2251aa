"""The scan station end to end on simulator frames, the scan CLI, serial rules."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.cli import main as cli_main
from agent.enrich.connectors.spec import load_serial_rules
from agent.enrich.errors import ConnectorConfigError
from agent.pipelines.scan_station import ScanStation, scan_body
from agent.pipelines.sink import MemorySink, RecordRefusedError
from agent.records import Envelope, ScanRecord
from drivers.camera import Code, Frame, IteratorSource, PayloadError, VinOcr
from drivers.obd2.pairing import DonglePairing, format_pairing
from simulators.camera.scenes import make_scene
from simulators.camera.stream import SceneStream


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.anyio
async def test_station_reports_each_presentation_once() -> None:
    sink = MemorySink()
    stream = SceneStream([("qrcode", "clean"), ("gs1_datamatrix", "clean")], (640, 480), hold=3, limit=6)
    station = ScanStation("bay1", sink, dedupe_window_s=60.0)
    stats = await station.run(IteratorSource(stream))
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert stats.frames == 6
    assert [r.classification for r in recs] == ["job_ticket", "gs1"]
    assert recs[0].fields["id"].startswith("J")
    assert recs[1].fields["gtin"].startswith("00884116")  # Dell's GS1 company prefix
    assert all(r.camera == "bay1" for r in recs)


class _RefusesOnce(MemorySink):
    """A sink on a full disk for one record (the outbox refuses it), then with room."""

    refused = 0

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        if not self.refused:
            self.refused += 1
            raise RecordRefusedError("outbox full: scan not taken")
        return await super().emit(kind, body, ts)


@pytest.mark.anyio
async def test_a_scan_the_sink_refused_is_reported_at_the_next_sighting() -> None:
    sink, clock = _RefusesOnce(), Clock()
    station = ScanStation("bay1", sink, dedupe_window_s=60.0, clock=clock, change_gate=False)
    frame = make_scene("qrcode", "clean", 1, (640, 480)).image
    await station.process(frame)
    assert sink.refused == 1 and sink.records == [] and station.stats.refused == 1
    for _ in range(3):  # the label still in view, 0.5 s apart
        clock.t += 0.5
        await station.process(frame)
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert [r.classification for r in recs] == ["job_ticket"]  # taken once, then deduped
    assert station.stats.records == 1


@pytest.mark.anyio
async def test_station_ocr_vin_needs_two_frames() -> None:
    sink = MemorySink()
    scene = make_scene("vin_plate", "clean", 1, (1280, 720))
    station = ScanStation("bay1", sink, ocr=VinOcr(), dedupe_window_s=60.0, ocr_interval_s=0.0)
    for _ in range(6):
        await station.process(scene.image)
        if station._ocr_task is not None:
            await station._ocr_task  # let OCR keep pace in the test (live, it samples)
            await station._ocr_done()
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert len(recs) == 1
    assert recs[0].vin is not None and recs[0].vin.value == scene.vin and recs[0].vin.source == "ocr"
    assert recs[0].symbology == "TEXT" and recs[0].vin.verified


@pytest.mark.anyio
async def test_station_skips_bad_frames_and_payloads() -> None:
    import numpy as np

    sink = MemorySink()
    station = ScanStation("bay1", sink)
    assert await station.process(np.zeros((0, 0, 3), np.uint8)) is None
    with pytest.raises(PayloadError):
        scan_body("bay1", Code("QRCODE", "x" * 8000, ((0, 0),) * 4, 1.0, "zxing"), ())
    assert sink.records == []


def _write_rules(d: Path) -> None:
    d.mkdir()
    (d / "acme.toml").write_text(
        'id = "acme"\nname = "Acme"\n[recognise]\nserial_patterns = ["SN[0-9A-F]{10}"]\n'
        'gs1_company_prefixes = ["950600"]\n[serial]\ntransform = ["strip", "upper"]\n'
        "min_length = 12\nmax_length = 12\n"
        '[[methods]]\ntype = "manual"\nurl = "https://acme.example/register"\nsteps = ["Enter the serial"]\n'
    )


def test_serial_rules_loader(tmp_path: Path) -> None:
    assert load_serial_rules(tmp_path / "absent") == []
    _write_rules(tmp_path / "m")
    (rule,) = load_serial_rules(tmp_path / "m")
    assert rule.manufacturer == "acme" and rule.matches("SN0123456789")
    (tmp_path / "m" / "bad.toml").write_text('id = "bad"\n[recognise]\nserial_patterns = "notalist"\n')
    with pytest.raises(ConnectorConfigError, match=r"bad\.toml"):
        load_serial_rules(tmp_path / "m")


def test_serial_from_barcode_with_rules(tmp_path: Path) -> None:
    _write_rules(tmp_path / "m")
    rules = load_serial_rules(tmp_path / "m")
    body = scan_body("bay1", Code("CODE128", "sn0123456789", ((0, 0),) * 4, 0.9, "zxing"), rules)
    assert body["classification"] == "serial" and body["serial"] == {
        "manufacturer": "acme",
        "serial": "SN0123456789",
    }


def test_scan_image_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jamb = make_scene("door_jamb", "clean", 2, (1280, 720))
    qr = make_scene("qrcode", "rotated", 2, (640, 480))
    neg = make_scene("negative_vin", "clean", 2, (1280, 720))
    paths = []
    for s in (jamb, qr, neg):
        p = tmp_path / f"{s.name}.png"
        cv2.imwrite(str(p), s.image)
        paths.append(str(p))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    rc = cli_main(["scan", "image", *paths, str(corrupt), "--json"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert rc == 1 and "corrupt.png" in err and len(lines) == 3
    assert all(set(o) == {"file", "codes", "vin"} for o in lines)
    assert lines[0]["codes"][0]["symbology"] == "CODE39"
    assert lines[0]["vin"] == {"value": jamb.vin, "source": "barcode", "verified": True}
    assert lines[1]["codes"] == qr.codes and lines[1]["vin"] is None
    assert lines[2]["vin"] is None


def test_scan_camera_sim_source(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["scan", "camera", "--source", "sim:qrcode", "--duration", "3", "--no-ocr", "--json"])
    out, _ = capsys.readouterr()
    recs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert rc == 0 and recs and recs[0]["kind"] == "scan" and recs[0]["classification"] == "job_ticket"


@pytest.mark.anyio
async def test_ocr_is_sampled_on_the_injected_clock() -> None:
    clock = Clock()
    scene = make_scene("vin_plate", "clean", 1, (640, 480))
    station = ScanStation("bay1", MemorySink(), ocr=VinOcr(), clock=clock, ocr_interval_s=1.0)
    for step in range(4):
        await station.process(scene.image)
        if station._ocr_task is not None:
            await station._ocr_task
            await station._ocr_done()
        clock.t += 0.4 if step < 3 else 0.0
    # t = 0 runs OCR; 0.4 and 0.8 are inside the 1 s interval; 1.2 runs again.
    assert station.stats.ocr_runs == 2 and station.stats.frames == 4
    assert station.health() is None  # not running


@pytest.mark.anyio
async def test_station_reads_the_simulator_over_mjpeg_http() -> None:
    from drivers.camera import OpenCVSource
    from simulators.camera.stream import MjpegServer

    stream = SceneStream([("qrcode", "clean")], (640, 480), hold=1000, limit=2000)
    sink = MemorySink()
    with MjpegServer(stream, fps=15.0) as server:
        station = ScanStation("mjpeg-cam", sink)
        stats = await station.run(OpenCVSource(server.url), duration_s=10.0, max_frames=5)
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert stats.frames == 5
    assert len(recs) == 1  # five frames of one presentation: one record
    assert recs[0].payload == stream.shown[0].codes[0]["payload"] and recs[0].classification == "job_ticket"


def test_config_default_formats_are_the_drivers() -> None:
    # Two spellings of one list drifted before (PDF417/ITF/EAN-8/UPC-E were off by default).
    from agent.config import CameraConfig
    from drivers.camera.symbology import DEFAULT_FORMATS, normalise

    assert tuple(normalise(f) for f in CameraConfig(name="a", source="0").formats) == DEFAULT_FORMATS


@pytest.mark.parametrize(
    "source",
    ["rtsp://127.0.0.1:9/stream", "http://127.0.0.1:9/mjpeg", "/nonexistent/clip.mp4", "dir:/nonexistent"],
)
def test_scan_camera_unreachable_source_is_one_line_and_exit_1(source: str) -> None:
    # Issue 12: this printed '0 frames' and exited 0, with OpenCV/FFmpeg's own
    # '[ WARN:0@0.48] global cap.cpp...' and '[tcp @ 0x...]' lines on stderr.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "agent", "scan", "camera", "--source", source, "--duration", "2", "--no-ocr"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and source in lines[0], proc.stderr
    assert "WARN" not in proc.stderr and "@ 0x" not in proc.stderr and proc.stdout == ""


def test_a_pairing_sticker_is_read_by_the_obd_drivers_parser() -> None:
    # The sticker as the OBD side prints it, through the camera's classify.
    sticker = format_pairing(DonglePairing("AA:BB:CC:DD:EE:FF", "fff0", "Bay 3; Vgate", "3"))
    body = scan_body("bay1", Code("QRCODE", sticker, ((0, 0),) * 4, 1.0, "zxing"), ())
    assert body["classification"] == "dongle_pairing"
    assert body["fields"] == {
        "address": "AA:BB:CC:DD:EE:FF",
        "url": "ble://AA:BB:CC:DD:EE:FF?layout=fff0",
        "layout": "fff0",
        "name": "Bay 3; Vgate",
        "bay": "3",
    }  # fmt: skip  (percent-decoded: the camera's own parser once kept "Bay%203%3B%20Vgate")
    bad = scan_body("bay1", Code("QRCODE", "BAYGATE:DONGLE:v9;addr=x", ((0, 0),) * 4, 1.0, "zxing"), ())
    assert bad["classification"] == "raw" and bad["fields"] == {}


@pytest.mark.anyio
async def test_an_empty_bay_is_not_decoded_and_a_label_is_still_read() -> None:
    # Issue 12: with nothing in view the station decoded and OCR'd every frame.
    import numpy as np

    clock = Clock()
    sink = MemorySink()
    station = ScanStation("bay1", sink, ocr=VinOcr(), clock=clock, ocr_interval_s=0.25)
    rng = np.random.default_rng(1)
    wall = np.full((720, 1280, 3), 110, np.uint8)

    async def empty_bay(frames: int) -> None:
        for _ in range(frames):
            clock.t += 1 / 15
            await station.process(np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8))
            if station._ocr_task is not None:
                await station._ocr_task

    await empty_bay(15)  # the first second: the start is a change, and it settles
    decoded, ocr_runs = station.stats.frames, station.stats.ocr_runs
    await empty_bay(60)  # 4 s of an empty bay at 15 fps
    assert station.stats.frames - decoded <= 1  # the 5 s heartbeat only
    assert station.stats.ocr_runs == ocr_runs  # and no OCR for a heartbeat
    label = make_scene("qrcode", "clean", 2, (1280, 720))
    clock.t += 1 / 15
    await station.process(label.image)  # the first frame with the label in view
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert [r.payload for r in recs] == [label.codes[0]["payload"]]


def _jpeg_frame(img: np.ndarray) -> Frame:
    return Frame.from_jpeg(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1])


@pytest.mark.anyio
async def test_a_resting_scene_is_looked_at_every_idle_look_s_and_never_decoded() -> None:
    # Issue 12: an empty bay's JPEG frames are looked at (a 1/8 decode), not decoded in
    # full, and while the scene rests the run loop may wait idle_look_s between looks.
    clock = Clock()
    sink = MemorySink()
    station = ScanStation("bay1", sink, clock=clock, idle_look_s=0.2)
    rng = np.random.default_rng(2)
    wall = np.full((720, 1280, 3), 110, np.uint8)
    noisy = [np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    frames = [_jpeg_frame(img) for img in noisy]
    assert station.rest_s() == 0.0  # nothing seen yet
    await station.process(frames[0])
    assert frames[0].decoded and station.rest_s() == 0.0  # the start is a change: settling
    clock.t += 1.0  # past the 0.75 s settle window
    assert await station.process(frames[1]) is None  # nothing was read: idle from here
    for f in frames[2:]:
        assert station.rest_s() == pytest.approx(0.2)
        clock.t += 0.05
        assert station.rest_s() == pytest.approx(0.15)
        clock.t += 0.15
        assert station.rest_s() == pytest.approx(0.0, abs=1e-9)
        assert await station.process(f) is None
    assert station.stats.unchanged_frames == 19 and not any(f.decoded for f in frames[1:])
    label = make_scene("qrcode", "clean", 2, (1280, 720))
    clock.t += 0.2
    result = await station.process(_jpeg_frame(label.image))
    assert result is not None and result.codes and station.rest_s() == 0.0  # looking at every frame again
    assert [r.payload for r in sink.records if isinstance(r, ScanRecord)] == [label.codes[0]["payload"]]


class _Bay:
    """What an MJPEG camera over an empty bay sends (a wall with sensor noise) for
    `idle` frames, then with a label in view; the frames MjpegServer serves."""

    def __init__(self, label: np.ndarray, idle: int) -> None:
        self.label = label
        self.idle = idle
        rng = np.random.default_rng(3)
        wall = np.full(label.shape, 105, np.uint8)
        self.walls = [np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8) for _ in range(4)]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in itertools.count():
            yield self.label if i >= self.idle else self.walls[i % len(self.walls)]


class _SignallingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.emitted = asyncio.Event()

    async def emit(self, kind: str, body: Mapping[str, Any], ts: datetime | None = None) -> Envelope:
        rec = await super().emit(kind, body, ts)
        self.emitted.set()
        return rec


@pytest.mark.anyio
async def test_a_label_shown_after_an_idle_spell_is_recorded_over_real_mjpeg_http() -> None:
    # Issue 12 end to end: a real MJPEG stream on loopback, read as JPEG packets; the
    # empty bay goes idle for 4 s at 15 fps (frames skipped by the gate, the loop
    # resting between looks), then a label comes into view and is recorded.
    from drivers.camera import OpenCVSource
    from simulators.camera.stream import MjpegServer

    label = make_scene("qrcode", "clean", 4, (1280, 720))
    sink = _SignallingSink()
    station = ScanStation("mjpeg-cam", sink)
    with MjpegServer(_Bay(label.image, idle=60), fps=15.0) as server:  # type: ignore[arg-type]
        source = OpenCVSource(server.url)
        run = asyncio.create_task(station.run(source, duration_s=60.0))
        try:
            async with asyncio.timeout(45):  # a bound for a hung test, not a latency
                await sink.emitted.wait()
        finally:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
    recs = [r for r in sink.records if isinstance(r, ScanRecord)]
    assert source.raw  # the stream was read as JPEG packets
    assert station.stats.unchanged_frames >= 5  # the idle spell was looked at, not decoded
    assert [r.payload for r in recs] == [label.codes[0]["payload"]]
