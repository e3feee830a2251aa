"""VIN OCR in-process with tesserocr (one PyTessBaseAPI per thread, ~15 ms per line
read; pytesseract starts a process per call, 180-250 ms).

Each text line is read by up to seven independent preprocessings (Otsu-binarised at
40 and 56 px line height, CLAHE-equalised at 56 px, plain grayscale at 36, 44, 50 and
64 px). Every pass votes for the 17-character tokens it read; `vins.vote_vins` decides.
A line whose first two passes hold no 17-character token is abandoned (not a VIN line),
so non-VIN text costs two reads, not seven.

Each 17-character word a pass reads is first put to glyphs.arbitrate: where the line
read itself weighed an alternative for a character (lstm_choice_mode 2, ~10 % slower
reads) and that glyph, cut out and read alone, is exactly that alternative, the pass
votes with it. That is one reader agreeing with another, never the check digit; it
fixed the leading '1'/'5' read as 'L'/'S' by every pass (held-out plates, per-cell 6:
DejaVu 36 -> 39 of 42, Hershey 32 -> 40 of 42, 0 false VINs on 108 negatives).

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
from drivers.camera.glyphs import GlyphReader, arbitrate
from drivers.camera.textlines import find_text_lines

__all__ = ["PASSES", "LineVotes", "VinOcr", "Word", "find_tessdata"]

_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_WHITELIST = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_CAPITALS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ALPHABET = frozenset(_WHITELIST)
_VIN_LEN = 17
_TOKEN = re.compile(r"[A-Z0-9]+")
_MAX_LINE_ASPECT = 40.0

LineVotes = Counter[str]  # 17-character token -> number of passes that read it
Word = list[tuple[str, frozenset[str]]]  # per symbol: the read character, its alternatives


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

    def _api(self, name: str = "api") -> tesserocr.PyTessBaseAPI:
        api = getattr(self._local, name, None)
        if api is None:
            try:
                api = tesserocr.PyTessBaseAPI(path=self.tessdata, lang="eng", psm=tesserocr.PSM.SINGLE_LINE)
            except RuntimeError as exc:
                raise OcrError(f"tesseract cannot start with {self.tessdata}: {exc}") from None
            # Lines: the VIN alphabet. Single glyphs: all capitals and digits, so that
            # an I, O or Q printed on a plate is read as what it is (glyphs.arbitrate).
            api.SetVariable("tessedit_char_whitelist", _WHITELIST if name == "api" else _CAPITALS)
            # Per-symbol alternatives from the LSTM (the characters it weighed at each
            # position), for glyphs.arbitrate; the best path is unchanged.
            api.SetVariable("lstm_choice_mode", "2")
            setattr(self._local, name, api)
        return api

    def _set(self, img: np.ndarray, name: str = "api") -> tesserocr.PyTessBaseAPI:
        api = self._api(name)
        # Margin in the line's own background shade: a pure-white frame around a grey
        # (dim) line draws an edge next to the first character.
        bg = float(np.percentile(img, 90))
        img = np.ascontiguousarray(cv2.copyMakeBorder(img, 10, 10, 16, 16, cv2.BORDER_CONSTANT, value=bg))
        api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
        return api

    def read(self, img: np.ndarray) -> str:
        """Raw text of one prepared line image (uint8, single channel)."""
        return str(self._set(img).GetUTF8Text())

    def read_glyph(self, img: np.ndarray) -> str:
        """One glyph alone, read over all capitals and digits (I, O, Q included)."""
        return str(self._set(img, "glyph_api").GetUTF8Text())

    def read_words(self, img: np.ndarray) -> list[Word]:
        """The words of one prepared line image, each symbol with its alternatives."""
        api = self._set(img)
        api.Recognize()
        words: list[Word] = []
        if not _tokens(str(api.GetUTF8Text())):
            return words  # no 17-character word: skip the per-symbol walk (~2 ms a line)
        level = tesserocr.RIL.SYMBOL
        for it in tesserocr.iterate_level(api.GetIterator(), level):
            try:
                text = it.GetUTF8Text(level)
            except RuntimeError:  # tesserocr's way of saying: an empty result
                continue
            if it.IsAtBeginningOf(tesserocr.RIL.WORD) or not words:
                words.append([])
            alts = frozenset(c.GetUTF8Text() for c in it.GetChoiceIterator()) & _ALPHABET
            words[-1].append((text, alts - {text}))
        return words

    def line_votes(self, line: np.ndarray, passes: int = len(PASSES)) -> LineVotes:
        """How many of the first `passes` preprocessings read each 17-character token."""
        votes: LineVotes = Counter()
        if line.shape[0] < 6 or line.shape[1] > _MAX_LINE_ASPECT * line.shape[0]:
            return votes
        glyphs = GlyphReader(line, self.read_glyph)
        for n, prep in enumerate(PASSES[: max(1, passes)], start=1):
            words = [w for w in self.read_words(prep(line)) if len(w) == _VIN_LEN]
            votes.update({arbitrate(w, glyphs) for w in words})
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
