"""VIN OCR in-process with tesserocr (one PyTessBaseAPI per thread, ~14 ms per line;
pytesseract starts a process per call, 180-250 ms).

Each candidate line is read with up to four independent preprocessings (Otsu-binarised
at 40 px line height; CLAHE grayscale at 56 px; plain grayscale at 50 px and 36 px) and
a token counts only when two of them read it identically (scanner.agreed_vins).
The whitelist is A-Z, 0-9 plus ':#-' separators — it deliberately INCLUDES I, O and Q
so that a plate carrying them is read as what it is and rejected, instead of tesseract
being forced to turn an O into a 0 that might then satisfy the check digit.
Only tokens of exactly 17 characters survive; the VIN rules in vin.py decide the rest.

The tesserocr 2.13 wheel bundles its own libtesseract whose default data path is './',
so the tessdata directory is always passed explicitly (TESSDATA_PREFIX, else the Debian
locations).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import tesserocr

from drivers.camera.errors import OcrError
from drivers.camera.textlines import find_text_lines

__all__ = ["LineRead", "VinOcr", "find_tessdata"]

_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:#-"
_TOKEN = re.compile(r"[A-Z0-9]+")
_PASS_A_HEIGHT = 40
_PASS_B_HEIGHT = 56
_MAX_LINE_ASPECT = 40.0

LineRead = tuple[str, str]  # (pass A token, pass B token) for one line


def find_tessdata(explicit: str | None = None, search_defaults: bool = True) -> str:
    """The tessdata directory holding eng.traineddata; OcrError naming where we looked."""
    defaults = (os.environ.get("TESSDATA_PREFIX"), *_TESSDATA) if search_defaults else ()
    candidates = [c for c in (explicit, *defaults) if c]
    for c in candidates:
        if (Path(c) / "eng.traineddata").is_file():
            return str(Path(c))
    raise OcrError(f"no eng.traineddata in {', '.join(candidates)} (install tesseract-ocr-eng)")


class VinOcr:
    """Reads 17-character candidates from text lines. Thread-safe: one tesseract API
    object per thread, created on first use and reused (creation costs ~100 ms)."""

    def __init__(self, tessdata: str | None = None) -> None:
        self.tessdata = find_tessdata(tessdata)
        self._local = threading.local()
        self._clahe_lock = threading.Lock()

    def _api(self) -> tesserocr.PyTessBaseAPI:
        api = getattr(self._local, "api", None)
        if api is None:
            try:
                api = tesserocr.PyTessBaseAPI(path=self.tessdata, lang="eng", psm=tesserocr.PSM.SINGLE_LINE)
            except RuntimeError as exc:
                raise OcrError(f"tesseract cannot start with {self.tessdata}: {exc}") from None
            api.SetVariable("tessedit_char_whitelist", _WHITELIST)
            api.SetVariable("load_system_dawg", "0")
            api.SetVariable("load_freq_dawg", "0")
            self._local.api = api
        return api

    def _read(self, img: np.ndarray) -> str:
        api = self._api()
        img = np.ascontiguousarray(img)
        api.SetImageBytes(img.tobytes(), img.shape[1], img.shape[0], 1, img.shape[1])
        return str(api.GetUTF8Text())

    def candidates(self, line: np.ndarray, passes: int = 2) -> Iterator[tuple[str, int]]:
        """(17-character token, pass number) for each pass that produced one. Pass 1 is
        binarised; passes 2-4 are grayscale at other scales; the caller accepts a token
        read identically by two of them. Stops once two passes agreed."""
        if line.shape[0] < 6 or line.shape[1] > _MAX_LINE_ASPECT * line.shape[0]:
            return
        seen: dict[str, int] = {}
        for n, prep in enumerate(_PASSES[: max(1, passes)], start=1):
            for t in _tokens(self._read(_border(prep(line)))):
                seen[t] = seen.get(t, 0) + 1
                yield t, n
            if n == 2 and not seen:
                return  # two passes without a 17-character token: not a VIN line
            if any(c >= 2 for c in seen.values()):
                return

    def read_lines(self, gray: np.ndarray, passes: int = 2) -> list[tuple[str, int]]:
        """Candidates from every text line found in a grayscale frame."""
        out: list[tuple[str, int]] = []
        for line in find_text_lines(gray):
            out.extend(self.candidates(line, passes))
        return out


def _pass_binary(line: np.ndarray) -> np.ndarray:
    _, out = cv2.threshold(_scaled(line, _PASS_A_HEIGHT), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return np.asarray(out, np.uint8)


def _pass_clahe(line: np.ndarray) -> np.ndarray:
    return np.asarray(
        cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(_scaled(line, _PASS_B_HEIGHT))
    )


def _pass_gray(height: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda line: _scaled(line, height)


_PASSES: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    _pass_binary,
    _pass_clahe,
    _pass_gray(50),
    _pass_gray(36),
)


def _scaled(line: np.ndarray, height: int) -> np.ndarray:
    f = height / line.shape[0]
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    return cv2.resize(line, (max(1, round(line.shape[1] * f)), height), interpolation=interp)


def _border(img: np.ndarray) -> np.ndarray:
    # Tesseract reads a line best with a white margin around it.
    return cv2.copyMakeBorder(img, 10, 10, 10, 10, cv2.BORDER_CONSTANT, value=255)


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.upper()) if len(t) == 17]
