"""The change gate on simulator frames with sensor noise, on an injected clock."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from drivers.camera.change import ChangeGate
from drivers.camera.frame import Frame
from simulators.camera.scenes import make_scene

SIZE = (1280, 720)


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def _noisy(base: np.ndarray, seed: int, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def _as(how: str, img: np.ndarray) -> Frame:
    """The frame as an array source or an MJPEG camera (JPEG, quality 90) hands it over."""
    if how == "array":
        return Frame.of(img)
    return Frame.from_jpeg(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1])


@pytest.mark.parametrize("how", ["array", "jpeg"])
def test_an_empty_bay_is_unchanged_and_a_label_is_a_change(how: str) -> None:
    clock = Clock()
    gate = ChangeGate(clock=clock)
    empty = make_scene("stripes", "clean", 1, SIZE).image.copy()
    empty[:] = empty.mean(axis=(0, 1)).astype(np.uint8)  # a bare wall
    assert gate.changed(_as(how, _noisy(empty, 0)))  # the first frame is always looked at
    clock.t += 1.0  # past the settle window
    verdicts, frames = [], []
    for i in range(1, 20):
        clock.t += 1 / 15
        frames.append(_as(how, _noisy(empty, i)))
        verdicts.append(gate.changed(frames[-1]))
    assert sum(verdicts) <= 1  # at most a heartbeat
    if how == "jpeg":  # issue 12: looking at them decoded none of them in full
        assert not any(f.decoded for f in frames)
    # Auto-exposure brightens everything by 20 levels: not a change.
    clock.t += 0.1
    assert not gate.changed(_as(how, _noisy(np.clip(empty.astype(int) + 20, 0, 255).astype(np.uint8), 99)))
    # A QR label put in view is.
    label = make_scene("qrcode", "clean", 3, SIZE).image
    clock.t += 0.1
    assert gate.changed(_as(how, label)) and gate.moved_recently()
    clock.t += 0.2
    assert gate.changed(_as(how, _noisy(label, 5)))  # settling: the sharp frames after the change
    clock.t += 1.0
    assert not gate.changed(_as(how, _noisy(label, 6))) and not gate.moved_recently()


def test_a_small_label_far_off_is_a_change_on_the_jpeg_path_too() -> None:
    # The 1/8 decode averages 8x8 blocks: a 64 px QR sticker (0.4 % of a 720p frame,
    # a few of the 3,600 blocks) must still count as a change.
    clock = Clock()
    gate = ChangeGate(clock=clock)
    wall = np.full((SIZE[1], SIZE[0], 3), 105, np.uint8)
    assert gate.changed(_as("jpeg", _noisy(wall, 0)))
    clock.t += 1.0
    assert not gate.changed(_as("jpeg", _noisy(wall, 1)))
    sticker = wall.copy()
    code = zxingcpp.create_barcode("JOB-1", zxingcpp.BarcodeFormat.QRCode)
    qr = cv2.resize(np.array(code.to_image(scale=3), np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST)
    sticker[600:664, 1100:1164] = qr[:, :, None]
    clock.t += 0.1
    assert gate.changed(_as("jpeg", _noisy(sticker, 2)))


def test_the_heartbeat_lets_one_frame_through() -> None:
    clock = Clock()
    gate = ChangeGate(every_s=2.0, clock=clock)
    frame = np.full((720, 1280), 120, np.uint8)
    assert gate.changed(frame)
    clock.t = 1.0
    assert not gate.changed(frame)
    clock.t = 2.5
    assert gate.changed(frame) and not gate.moved_recently()
