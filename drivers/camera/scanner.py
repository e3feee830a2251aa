"""One frame in, everything readable out: grayscale once, the sharpness gate, barcodes,
VINs from barcodes, and (when asked) VIN OCR with independent passes that must agree.

VIN acceptance:
- from a barcode: the payload rules of vin.py (one sighting is enough: the symbology's
  own checks protect it);
- from OCR on one frame: independent OCR passes must agree (>= 3 of 7, see vinvote.py)
  and vin.py must accept the result (this is what `scan image` uses);
- from OCR on a live camera: additionally the same VIN must be read on >= 2 frames
  (`OcrVinVoter`) before it is reported.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from drivers.camera.decode import Code, Decoder
from drivers.camera.ocr import VinOcr
from drivers.camera.quality import SHARP_THRESHOLD, sharpness, to_gray
from drivers.camera.symbology import DEFAULT_FORMATS
from drivers.camera.vin import VinCheck, vin_from_barcode
from drivers.camera.vinvote import vote_vins

__all__ = ["FrameResult", "FrameScanner", "OcrVinVoter", "VinFound"]


@dataclass(frozen=True)
class VinFound:
    value: str
    source: Literal["barcode", "ocr"]
    verified: bool
    symbology: str  # the code it came from, or TEXT for OCR

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class FrameResult:
    codes: list[Code]
    sharpness: float
    sharp: bool
    barcode_vins: list[VinFound] = field(default_factory=list)
    ocr_vins: list[VinCheck] = field(default_factory=list)  # passes agreed, rules passed

    def best_vin(self) -> VinFound | None:
        """Barcode VINs first (verified first), then agreed OCR."""
        ranked = sorted(self.barcode_vins, key=lambda v: not v.verified)
        if ranked:
            return ranked[0]
        for v in sorted(self.ocr_vins, key=lambda v: not v.verified):
            return VinFound(v.value, "ocr", v.verified, "TEXT")
        return None


class FrameScanner:
    """Scans frames for one camera. Use from one thread at a time (the OCR engine keeps
    one tesseract API per thread, so several scanners may share one VinOcr)."""

    def __init__(
        self,
        formats: list[str] | tuple[str, ...] = DEFAULT_FORMATS,
        ocr: VinOcr | None = None,
        sharp_threshold: float = SHARP_THRESHOLD,
        locate_1d: bool = True,
    ) -> None:
        self.decoder = Decoder(formats, locate_1d=locate_1d)
        self.ocr = ocr
        self.sharp_threshold = sharp_threshold

    def scan(self, frame: np.ndarray, with_ocr: bool = False) -> FrameResult:
        gray = to_gray(frame)
        score = sharpness(gray)
        sharp = score >= self.sharp_threshold
        codes = self.decoder.decode(gray, sharp)
        vins = []
        for c in codes:
            if c.encoding != "utf-8":
                continue
            v = vin_from_barcode(c.symbology, c.payload)
            if v is not None:
                vins.append(VinFound(v.value, "barcode", v.verified, c.symbology))
        ocr_vins: list[VinCheck] = []
        if with_ocr and sharp and self.ocr is not None and not any(v.verified for v in vins):
            ocr_vins = vote_vins(self.ocr.read_lines(gray))
        return FrameResult(codes, score, sharp, vins, ocr_vins)


class OcrVinVoter:
    """Reports an OCR VIN once it was read on `min_frames` of the last `horizon` OCR'd
    frames. Two different VINs confirmed in the same horizon are both withheld until
    one of them falls out of it: ambiguity is not a reading."""

    def __init__(self, min_frames: int = 2, horizon: int = 10) -> None:
        self.min_frames = min_frames
        self._recent: deque[frozenset[str]] = deque(maxlen=horizon)
        self._checks: dict[str, VinCheck] = {}

    def feed(self, vins: list[VinCheck]) -> VinCheck | None:
        self._recent.append(frozenset(v.value for v in vins))
        for v in vins:
            self._checks[v.value] = v
        counts: dict[str, int] = {}
        for frame in self._recent:
            for value in frame:
                counts[value] = counts.get(value, 0) + 1
        confirmed = [value for value, n in counts.items() if n >= self.min_frames]
        if len(confirmed) != 1:
            return None
        return self._checks[confirmed[0]]
