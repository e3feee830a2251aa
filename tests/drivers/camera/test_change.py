"""The change gate on simulator frames with sensor noise, on an injected clock."""

from __future__ import annotations

import numpy as np

from drivers.camera.change import ChangeGate
from simulators.camera.scenes import make_scene

SIZE = (1280, 720)


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def _noisy(base: np.ndarray, seed: int, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_an_empty_bay_is_unchanged_and_a_label_is_a_change() -> None:
    clock = Clock()
    gate = ChangeGate(clock=clock)
    empty = make_scene("stripes", "clean", 1, SIZE).image.copy()
    empty[:] = empty.mean(axis=(0, 1)).astype(np.uint8)  # a bare wall
    assert gate.changed(_noisy(empty, 0))  # the first frame is always looked at
    clock.t += 1.0  # past the settle window
    verdicts = []
    for i in range(1, 20):
        clock.t += 1 / 15
        verdicts.append(gate.changed(_noisy(empty, i)))
    assert sum(verdicts) <= 1  # at most a heartbeat
    # Auto-exposure brightens everything by 20 levels: not a change.
    clock.t += 0.1
    assert not gate.changed(_noisy(np.clip(empty.astype(int) + 20, 0, 255).astype(np.uint8), 99))
    # A QR label put in view is.
    label = make_scene("qrcode", "clean", 3, SIZE).image
    clock.t += 0.1
    assert gate.changed(label) and gate.moved_recently()
    clock.t += 0.2
    assert gate.changed(_noisy(label, 5))  # settling: the sharp frames after the change
    clock.t += 1.0
    assert not gate.changed(_noisy(label, 6)) and not gate.moved_recently()


def test_the_heartbeat_lets_one_frame_through() -> None:
    clock = Clock()
    gate = ChangeGate(every_s=2.0, clock=clock)
    frame = np.full((720, 1280), 120, np.uint8)
    assert gate.changed(frame)
    clock.t = 1.0
    assert not gate.changed(frame)
    clock.t = 2.5
    assert gate.changed(frame) and not gate.moved_recently()
