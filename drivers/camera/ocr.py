"""VIN OCR in-process with tesserocr (one PyTessBaseAPI per thread, ~15 ms per line
read; pytesseract starts a process per call, 180-250 ms).

Each text line is read by up to seven independent preprocessings (Otsu-binarised at
40 and 56 px line height, CLAHE-equalised at 56 px, plain grayscale at 36, 44, 50 and
64 px). Every pass votes for the 17-character tokens it read; `vins.vote_vins` decides.
A line whose first two passes hold no 17-character token is abandoned (not a VIN line),
so non-VIN text costs two reads, not seven.

The whitelist is the VIN alphabet (no I, O, Q), as VIN plates use it: tesseract then
never proposes a letter a VIN cannot hold. That is an alphabet constraint, not a
correction: nothing is ever changed to satisfy the check digit.

The tesserocr 2.13 wheel bundles its own libtesseract (5.5) whose default data path is
'./', so the tessdata directory is always passed explicitly (TESSDATA_PREFIX, else the
Debian locations).
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import tesserocr

from drivers.camera.errors import OcrError
from drivers.camera.textlines import find_text_lines

__all__ = ["PASSES", "LineVotes", "VinOcr", "find_tessdata"]

_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_WHITELIST = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_TOKEN = re.compile(r"[A-Z0-9]+")
_MAX_LINE_ASPECT = 40.0

LineVotes = Counter[str]  # 17-character token -> number of passes that read it


def find_tessdata(explicit: str | None = None, search_defaults: bool = True) -> str:
    """The tessdata directory holding eng.traineddata; OcrError naming where we looked."""
    defaults = (os.environ.get("TESSDATA_PREFIX"), *_TESSDATA) if search_defaults else ()
    candidates = [c for c in (explicit, *defaults) if c]
    for c in candidates:
        if (Path(c) / "eng.traineddata").is_file():
            return str(Path(c))
    raise OcrError(
        f"no eng.traineddata in {', '.join(candidates) or '(nowhere)'} (install tesseract-ocr-eng)"
    )


def _scaled(line: np.ndarray, height: int) -> np.ndarray:
    f = height / line.shape[0]
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    return np.asarray(cv2.resize(line, (max(1, round(line.shape[1] * f)), height), interpolation=interp))


def _binary(height: int) -> Callable[[np.ndarray], np.ndarray]:
    def prep(line: np.ndarray) -> np.ndarray:
        _, out = cv2.threshold(_scaled(line, height), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        return np.asarray(out, np.uint8)

    return prep


def _clahe(height: int) -> Callable[[np.ndarray], np.ndarray]:
    def prep(line: np.ndarray) -> np.ndarray:
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
        return np.asarray(clahe.apply(_scaled(line, height)))

    return prep


def _gray(height: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda line: _scaled(line, height)


# Order matters: the first two are the most different from each other (binary vs
# equalised gray), so a non-VIN line is given up after them.
PASSES: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    _binary(40),
    _clahe(56),
    _gray(50),
    _gray(36),
    _gray(64),
    _binary(56),
    _gray(44),
)


class VinOcr:
    """Reads 17-character candidates from text lines. Thread-safe: one tesseract API
    object per thread, created on first use (~100 ms) and reused."""

    def __init__(self, tessdata: str | None = None) -> None:
        self.tessdata = find_tessdata(tessdata)
        self._local = threading.local()

    def _api(self) -> tesserocr.PyTessBaseAPI:
        api = getattr(self._local, "api", None)
        if api is None:
            try:
                api = tesserocr.PyTessBaseAPI(path=self.tessdata, lang="eng", psm=tesserocr.PSM.SINGLE_LINE)
            except RuntimeError as exc:
                raise OcrError(f"tesseract cannot start with {self.tessdata}: {exc}") from None
            api.SetVariable("tessedit_char_whitelist", _WHITELIST)
            self._local.api = api
        return api

    def read(self, img: np.ndarray) -> str:
        """Raw text of one prepared line image (uint8, single channel)."""
        api = self._api()
        # Margin in the line's own background shade: a pure-white frame around a grey
        # (dim) line draws an edge next to the first character.
        bg = float(np.percentile(img, 90))
        img = np.ascontiguousarray(cv2.copyMakeBorder(img, 10, 10, 16, 16, cv2.BORDER_CONSTANT, value=bg))
        api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
        return str(api.GetUTF8Text())

    def line_votes(self, line: np.ndarray, passes: int = len(PASSES)) -> LineVotes:
        """How many of the first `passes` preprocessings read each 17-character token."""
        votes: LineVotes = Counter()
        if line.shape[0] < 6 or line.shape[1] > _MAX_LINE_ASPECT * line.shape[0]:
            return votes
        for n, prep in enumerate(PASSES[: max(1, passes)], start=1):
            votes.update(set(_tokens(self.read(prep(line)))))
            if n == 2 and not votes:
                break  # two passes without a 17-character token: not a VIN line
        return votes

    def read_lines(self, gray: np.ndarray, passes: int = len(PASSES)) -> list[LineVotes]:
        """Votes for every text line found in a grayscale frame (lines without any
        17-character token are left out)."""
        out = []
        for line in find_text_lines(gray):
            votes = self.line_votes(line, passes)
            if votes:
                out.append(votes)
        return out


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.upper()) if len(t) == 17]
