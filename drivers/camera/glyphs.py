"""Second opinions on single characters: a text line cut into glyphs by column
projection, each glyph read on its own.

Why: tesseract's LSTM reads a line with context, and that context is what misreads a
VIN's leading digit — a '1' or '5' in front of letters ('1HG', '5YJ') comes out 'L' /
'S' at 93-99 % confidence on every preprocessing, in the Hershey font and in DejaVu
alike (measured on 84+84 plates: 1->L and 5->S were 80 % of all wrong characters). Cut
out and read alone, the same glyph is read right (78/79 leading glyphs in Hershey,
71/75 in DejaVu). Read alone, glyphs are worse elsewhere (93 % per glyph, mostly empty
reads of '0'), so a glyph read is never a VIN character by itself: `arbitrate` only
lets it pick among the alternatives the line read itself offered for that position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

__all__ = ["GLYPH_HEIGHT", "GlyphReader", "arbitrate", "split_glyphs"]

GLYPH_HEIGHT = 48
_BAND = 0.25  # rows with >= 25 % of the fullest row's ink are the glyphs' band
_MIN_WIDTH = 2  # px at GLYPH_HEIGHT: narrower runs are noise specks


def split_glyphs(line: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The line scaled to GLYPH_HEIGHT and its glyphs' column spans, left to right."""
    f = GLYPH_HEIGHT / line.shape[0]
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    img = np.asarray(cv2.resize(line, (max(1, round(line.shape[1] * f)), GLYPH_HEIGHT), interpolation=interp))
    _, ink = cv2.threshold(img, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    rows = ink.sum(axis=1)
    band = np.flatnonzero(rows >= _BAND * max(1, int(rows.max())))
    if band.size == 0:
        return img, []
    # Only the text band: a neighbouring line's descenders would join glyphs.
    cols = ink[band[0] : band[-1] + 1].sum(axis=0) > 0
    spans: list[tuple[int, int]] = []
    start = None
    for x, on in enumerate([*cols.tolist(), False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            if x - start >= _MIN_WIDTH:
                spans.append((start, x))
            start = None
    return img, spans


class GlyphReader:
    """Lazily reads the glyphs of one line (each at most once, whatever the number of
    line passes asking), with `read_one(image) -> text`."""

    def __init__(self, line: np.ndarray, read_one: Callable[[np.ndarray], str]) -> None:
        self._img, self.spans = split_glyphs(line)
        self._read_one = read_one
        self._cache: dict[int, str] = {}
        self._bg = int(np.percentile(self._img, 90))

    def __len__(self) -> int:
        return len(self.spans)

    def read(self, i: int) -> str:
        if i not in self._cache:
            a, b = self.spans[i]
            # Background, not the neighbours' pixels, on both sides: a sliver of the next
            # glyph reads as a '1'.
            pad = GLYPH_HEIGHT // 3
            glyph = cv2.copyMakeBorder(self._img[:, a:b], 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=self._bg)
            self._cache[i] = self._read_one(np.asarray(glyph)).strip()
        return self._cache[i]


def arbitrate(symbols: Sequence[tuple[str, frozenset[str]]], glyphs: GlyphReader) -> str:
    """The line read, with a character replaced by one of the line read's own
    alternatives for it only where the glyph read alone says exactly that alternative.
    Position i of the line is glyph i: without exactly one glyph per character the line
    read is returned unchanged."""
    text = "".join(c for c, _ in symbols)
    if len(glyphs) != len(symbols):
        return text
    out = []
    for i, (top, alts) in enumerate(symbols):
        alone = glyphs.read(i) if alts else ""
        out.append(alone if alone in alts and alone != top else top)
    return "".join(out)
