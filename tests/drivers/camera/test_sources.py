"""Frame sources and the newest-frame grabber, including a real MJPEG HTTP stream."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera.capture import FrameGrabber
from drivers.camera.errors import FrameError, SourceError
from drivers.camera.frame import Frame
from drivers.camera.sources import DirectorySource, IteratorSource, OpenCVSource, load_image, open_source
from resilience import BackoffPolicy
from simulators.camera.stream import MjpegServer, SceneStream


def _frame(v: int) -> np.ndarray:
    return np.full((48, 64, 3), v, np.uint8)


def test_load_image_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0garbage" * 10)
    for path, why in [(empty, "empty"), (corrupt, "not a decodable"), (tmp_path / "nope.png", "cannot read")]:
        with pytest.raises(FrameError, match=why):
            load_image(path)


def test_directory_source_skips_bad_files(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _frame(10))
    (tmp_path / "b.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "c.png"), _frame(30))
    src = open_source(f"dir:{tmp_path}")
    assert isinstance(src, DirectorySource)
    src.open()
    frames = [src.read(), src.read(), src.read()]
    assert [int(f.image[0, 0, 0]) for f in frames[:2] if f is not None] == [10, 30] and frames[2] is None
    assert len(src.errors) == 1 and "b.png" in src.errors[0]


def test_open_source_dispatch() -> None:
    assert isinstance(open_source("0"), OpenCVSource)
    assert open_source("rtsp://cam/1").live
    with pytest.raises(SourceError):
        open_source("")
    with pytest.raises(SourceError):
        open_source("sim:")
    missing = open_source("/no/such/video.mp4")
    with pytest.raises(SourceError):
        missing.open()


def test_grabber_finite_source_is_lossless() -> None:
    grabber = FrameGrabber(IteratorSource([_frame(i) for i in range(5)])).start()
    got = []
    while (item := grabber.latest(2.0)) is not None:
        got.append(int(item[1].image[0, 0, 0]))
    grabber.stop()
    assert got == [0, 1, 2, 3, 4] and grabber.health().state == "ended"


def test_grabber_live_keeps_only_newest() -> None:
    produced = threading.Semaphore(0)
    count = [0]

    def camera() -> np.ndarray:
        count[0] += 1
        if count[0] == 30:
            produced.release()
        return _frame(count[0] % 256)

    grabber = FrameGrabber(IteratorSource(camera, live=True)).start()
    assert produced.acquire(timeout=10)
    item = grabber.latest(2.0)
    grabber.stop()
    assert item is not None and item[0] >= 29  # not frame 1: the backlog was dropped


class FlakyCamera:
    """Fails to open twice (unplugged), then delivers frames."""

    name = "flaky"
    live = True

    def __init__(self) -> None:
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= 2:
            raise SourceError("no such device")

    def read(self) -> Frame | None:
        return Frame.of(_frame(7))

    def close(self) -> None:
        pass


FAST = BackoffPolicy(first_s=0.01, cap_s=0.02)


def test_grabber_reopens_with_backoff_and_reports_health() -> None:
    cam = FlakyCamera()
    grabber = FrameGrabber(cam, backoff=FAST).start()
    item = grabber.latest(5.0)
    health = grabber.health()
    grabber.stop()
    assert item is not None and cam.opens == 3
    assert health.state == "ok" and health.reopens == 2


def test_grabber_degraded_while_unplugged() -> None:
    class Dead(FlakyCamera):
        def open(self) -> None:
            raise SourceError("unplugged")

    grabber = FrameGrabber(Dead(), backoff=FAST).start()
    assert grabber.latest(0.3) is None
    health = grabber.health()
    grabber.stop()
    assert health.state == "degraded" and health.last_error == "unplugged" and health.reopens >= 1


def test_mjpeg_stream_over_real_http() -> None:
    stream = SceneStream([("qrcode", "clean")], (320, 240), hold=100, limit=200)
    with MjpegServer(stream, fps=20.0) as server:
        src = OpenCVSource(server.url)
        src.open()
        try:
            frame = src.read()
        finally:
            src.close()
    # Issue 12: an MJPEG stream is read as FFmpeg's packets (whole JPEGs), not decoded
    # by the source; the pixels come on first use.
    assert src.raw and frame is not None and frame.jpeg is not None and not frame.decoded
    assert frame.jpeg[:2] == b"\xff\xd8" and frame.image.shape == (240, 320, 3)


def _multipart_server(parts: list[bytes]) -> ThreadingHTTPServer:
    """A loopback MJPEG camera that sends `parts` once, as multipart/x-mixed-replace."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            with contextlib.suppress(OSError):
                for part in parts:
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(part)
                    self.wfile.write(head + part + b"\r\n")
                    self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_mjpeg_stream_part_that_is_not_a_jpeg_is_skipped_and_a_run_of_them_fails_the_source() -> None:
    # FFmpeg passes every multipart part on as a packet, whatever it holds.
    jpg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    garbage = b"<html>camera busy</html>"
    server = _multipart_server([jpg, garbage, jpg, *([garbage] * 16), jpg])
    src = OpenCVSource(f"http://127.0.0.1:{server.server_address[1]}/video")
    try:
        src.open()
        first, second = src.read(), src.read()
        assert src.raw and first is not None and second is not None and src.bad_packets == 1
        assert second.image.shape == (240, 320, 3)
        with pytest.raises(SourceError, match=r"not a JPEG .*16 in a row from an MJPEG stream"):
            src.read()
    finally:
        src.close()
        server.shutdown()
        server.server_close()


def test_a_video_file_that_is_not_mjpeg_is_decoded_by_the_source(tmp_path: Path) -> None:
    # Raw packets only for Motion-JPEG: an MPEG-4 packet is not a picture on its own.
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (320, 240))
    for i in range(3):
        writer.write(np.full((240, 320, 3), 40 * i, np.uint8))
    writer.release()
    mjpeg = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(mjpeg), cv2.VideoWriter.fourcc(*"MJPG"), 10, (320, 240))
    for i in range(3):
        writer.write(np.full((240, 320, 3), 40 * i, np.uint8))
    writer.release()
    got: dict[str, tuple[bool, list[bool], Frame | None]] = {}
    for p in (path, mjpeg):
        src = OpenCVSource(str(p))
        src.open()
        try:
            frames = [src.read() for _ in range(4)]
        finally:
            src.close()
        assert frames[3] is None  # a file ends
        got[p.suffix] = (src.raw, [f.decoded for f in frames[:3] if f is not None], frames[2])
    assert got[".mp4"][:2] == (False, [True, True, True])
    assert got[".avi"][:2] == (True, [False, False, False])
    for _, _, last in got.values():
        assert last is not None and abs(int(last.image[120, 160, 0]) - 80) <= 8  # lossy codecs


def test_a_camera_that_drops_after_one_frame_backs_off_until_healthy() -> None:
    # Issue 11/12: a source that connects and drops at once must not be reopened at the
    # first delay forever; the backoff resets only after a healthy spell (clock injected).
    class Clock:
        t = 0.0

        def __call__(self) -> float:
            return self.t

    class Dropper(FlakyCamera):
        def __init__(self) -> None:
            super().__init__()
            self.reads = 0

        def open(self) -> None:
            self.opens += 1

        def read(self) -> Frame | None:
            self.reads += 1
            if self.reads % 2 == 0:
                if self.opens == 6:
                    clock.t += 60.0  # this connection stayed up for a minute: healthy
                raise SourceError("stream dropped")
            return Frame.of(_frame(1))

    clock, delays = Clock(), []
    policy = BackoffPolicy(first_s=1.0, cap_s=8.0, jitter=0.0, healthy_after_s=30.0)

    def wait(delay: float) -> bool:
        delays.append(delay)
        return len(delays) >= 7

    grabber = FrameGrabber(Dropper(), backoff=policy, clock=clock, wait=wait)
    grabber._run()  # the reader loop in this thread: no sleeping, no timing
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 1.0, 2.0]


def test_a_huge_png_is_refused_from_its_header_before_decoding(tmp_path: Path) -> None:
    # Issue 12: a 16000x16000 image took 21 s and 1.9 GB. The header says how big it is;
    # nothing is decoded (this file has no pixel data at all).
    side = (16000).to_bytes(4, "big")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + side * 2 + b"\x08\x00\x00\x00\x00"
    path = tmp_path / "huge.png"
    path.write_bytes(png + b"\x00" * 64)
    with pytest.raises(FrameError, match=r"16000x16000 is 256 MP"):
        load_image(path)


def test_a_large_jpeg_is_downscaled_while_decoding(tmp_path: Path) -> None:
    import zxingcpp

    img = np.full((5000, 6400), 255, np.uint8)  # 32 MP: over the 24 MP target
    code = zxingcpp.create_barcode("BIG-1", zxingcpp.BarcodeFormat.QRCode)
    qr = np.array(code.to_image(scale=60), np.uint8)
    img[200 : 200 + qr.shape[0], 200 : 200 + qr.shape[1]] = qr
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    frame = load_image(path)
    assert frame.shape[:2] == (2500, 3200)  # libjpeg's 1/2 scaling, never the full size
    from drivers.camera import FrameScanner

    assert [c.payload for c in FrameScanner(["QRCode"]).scan(frame).codes] == ["BIG-1"]
