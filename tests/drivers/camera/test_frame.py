"""The Frame type: compressed until needed, one tiny copy for the gate, bounded decodes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.camera.errors import FrameError
from drivers.camera.frame import SMALL, Frame, as_frame, header_size
from simulators.camera.scenes import make_scene


def _jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def test_a_jpeg_frame_is_decoded_only_when_its_pixels_are_asked_for() -> None:
    img = make_scene("qrcode", "clean", 3, (1280, 720)).image
    frame = Frame.from_jpeg(_jpeg(img), "cam")
    assert not frame.decoded and frame.jpeg is not None and frame.jpeg[:2] == b"\xff\xd8"
    tiny = frame.small()
    assert tiny.shape == (SMALL[1], SMALL[0]) and tiny.dtype == np.float32
    assert not frame.decoded  # the gate's look did not decode the full frame
    assert frame.small() is tiny  # made once
    assert frame.image.shape == (720, 1280, 3) and frame.decoded
    assert frame.image is frame.image  # decoded once


def test_the_tiny_copy_of_a_jpeg_is_the_block_means_of_its_pixels() -> None:
    # libjpeg's 1/8 scaling keeps each 8x8 block's mean (its DC coefficient), so the
    # tiny copy is the area mean of the whole decoded frame, to a level or two (16:9
    # sizes: OpenCV's INTER_AREA from 80x60 to 80x45 is not an exact area mean).
    for kind, size in (("qrcode", (1280, 720)), ("vin_plate", (1920, 1080)), ("code128", (640, 360))):
        data = _jpeg(make_scene(kind, "clean", 1, size).image)
        tiny = Frame.from_jpeg(data).small()
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        area = cv2.resize(grey, SMALL, interpolation=cv2.INTER_AREA).astype(np.float32)
        assert tiny.shape == area.shape == (SMALL[1], SMALL[0])
        assert float(np.abs(tiny - area).max()) <= 3.0, kind


def test_a_small_jpeg_is_not_upscaled_from_a_reduction() -> None:
    # 160x90: a 1/8 decode would be 20x12, below the gate's 80x45; it takes 1/2.
    frame = Frame.from_jpeg(_jpeg(np.full((90, 160, 3), 77, np.uint8)))
    assert frame.small().shape == (SMALL[1], SMALL[0]) and abs(float(frame.small().mean()) - 77) < 2


def test_bytes_that_are_not_a_jpeg_are_refused_at_once() -> None:
    for data in (b"", b"\xff\xd8", b"GIF89a" + b"\x00" * 100, b"--frame\r\n"):
        with pytest.raises(FrameError, match="not a JPEG"):
            Frame.from_jpeg(data, "cam")


def test_a_corrupt_or_truncated_jpeg_is_a_frame_error_when_looked_at() -> None:
    good = _jpeg(make_scene("qrcode", "clean", 3, (640, 480)).image)
    for data in (b"\xff\xd8\xff\xe0garbage" * 10, good[:300]):
        frame = Frame.from_jpeg(data, "cam")
        with pytest.raises(FrameError, match="cam: JPEG does not decode"):
            frame.small()
        with pytest.raises(FrameError, match="cam: JPEG does not decode"):
            _ = frame.image


def test_a_huge_jpeg_header_is_refused_before_decoding() -> None:
    # A JPEG whose frame header (SOF0) says 60000x60000: the 1/8 decode alone would be
    # 56 MP. Nothing follows the header: it is refused from it.
    side = (60000).to_bytes(2, "big")
    sof = b"\xff\xc0\x00\x11\x08" + side * 2 + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    data = b"\xff\xd8" + sof + b"\x00" * 64
    assert header_size(data) == (60000, 60000)
    with pytest.raises(FrameError, match="60000x60000 JPEG is over the decode limit"):
        Frame.from_jpeg(data, "cam").small()


def test_an_array_frame_is_its_own_image() -> None:
    img = np.full((720, 1280), 120, np.uint8)
    frame = as_frame(img)
    assert frame.decoded and frame.image is img and frame.jpeg is None
    assert as_frame(frame) is frame
    assert float(frame.small().mean()) == 120.0
    with pytest.raises(ValueError, match="either an image or a JPEG"):
        Frame()
