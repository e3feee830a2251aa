"""The per-frame change gate: decode only what changed.

An empty bay sends the same picture 15 times a second. Decoding each frame (zxing-cpp
~26 ms, 1D localisation ~10 ms at 720p) and OCR every 0.25 s (~300 ms) kept 46 % of an
x86 core busy with nothing in view (issue 12). The gate compares a tiny copy of each
frame (`Frame.small()` in frame.py: 80 x 45 block means; from every 4th pixel of a
720p array that is 16 samples a block, so sensor noise of sigma 3 shrinks to ~0.75; a
JPEG is never decoded in full for it, its 1/8 DCT-scaled decode already averages 8x8)
with the copy taken when a frame was last let through; a frame is 'changed' when more
than `min_blocks` of its blocks moved by more than `level` grey levels after removing
the common shift (auto-exposure moves every block alike). A label put in view moves a
few percent of the blocks by tens of levels.

After a change every frame is let through for `settle_s` (0.75 s): the first changed
frame is often the blurred one of a hand moving a label in, and the sharp frames after
it differ from it too little to count as a change of their own. A heartbeat
(`every_s`, 5 s) lets one frame through regardless, so slow changes (the light fading) are
still looked at.

Sans-IO: the caller says what to do with the answer, and the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from drivers.camera.frame import Frame, as_frame

__all__ = ["ChangeGate"]


class ChangeGate:
    def __init__(
        self,
        level: float = 12.0,
        min_blocks: float = 0.004,
        every_s: float = 5.0,
        settle_s: float = 0.75,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.level = level
        self.min_blocks = min_blocks
        self.every_s = every_s
        self.settle_s = settle_s
        self._clock = clock
        self._ref: np.ndarray | None = None
        self._ref_at = -float("inf")
        self._moved_at = -float("inf")

    def changed(self, frame: Frame | np.ndarray) -> bool:
        """Does this frame differ from the last one let through? (The first frame, and
        one frame per heartbeat, always do.) A frame let through becomes the reference.
        FrameError when the frame cannot be looked at (a JPEG that does not decode)."""
        tiny = as_frame(frame).small()
        now = self._clock()
        if self._ref is None or self._ref.shape != tiny.shape:
            self._keep(tiny, now)
            self._moved_at = now
            return True
        diff = tiny - self._ref
        diff -= float(np.median(diff))
        if float(np.count_nonzero(np.abs(diff) > self.level)) / diff.size > self.min_blocks:
            self._keep(tiny, now)
            self._moved_at = now
            return True
        if now - self._moved_at < self.settle_s or now - self._ref_at >= self.every_s:
            self._keep(tiny, now)
            return True
        return False

    def moved_recently(self) -> bool:
        """Within `settle_s` of the last change (what is worth OCR: not a heartbeat)."""
        return self._clock() - self._moved_at < self.settle_s

    def reset(self) -> None:
        """Let the next frame through (something is pending on the scene)."""
        self._ref = None

    def _keep(self, tiny: np.ndarray, now: float) -> None:
        self._ref, self._ref_at = tiny, now
