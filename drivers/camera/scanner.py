"""One frame in, everything readable out: grayscale once, the sharpness score, barcodes,
each code classified once (which is where a barcode VIN is read, payload.classify ->
vin.vin_from_barcode), and — when asked — VIN OCR.

VIN acceptance:
- from a barcode: the payload rules of vin.py (one sighting is enough: the symbology's
  own checks protect it). A labelled payload ('VIN:…', Code 39 'I' import prefix)
  outranks an unlabelled 17-character code in the same frame;
- from OCR: one text box holds the whole VIN as one token and its check digit verifies
  (vin.vins_in_text); on a still that is the reading (`scan image`);
- from OCR on a live camera: additionally the same VIN must be read on >= 2 OCR'd frames
  (`OcrVinVoter`) before it is reported.

The sharpness score orders work, it does not forbid it: on a still OCR always runs
(a lightly blurred plate is still readable: the old hard gate threw away 25 of 60 plates
of the varied set); on the live path the station hands OCR the sharpest recent frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from drivers.camera.decode import Code, Decoder
from drivers.camera.errors import PayloadError
from drivers.camera.ocr import VinOcr
from drivers.camera.payload import Classified, classify
from drivers.camera.quality import SHARP_THRESHOLD, sharpness, to_gray
from drivers.camera.serials import SerialRule
from drivers.camera.symbology import DEFAULT_FORMATS
from drivers.camera.vin import VinCheck

__all__ = ["FrameResult", "FrameScanner", "OcrVinVoter", "Read", "VinFound"]


@dataclass(frozen=True)
class VinFound:
    value: str
    source: Literal["barcode", "ocr"]
    verified: bool
    symbology: str  # the code it came from, or TEXT for OCR
    labelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class Read:
    """One decoded code and its class; `error` instead when the payload is unusable."""

    code: Code
    classified: Classified | None
    error: str | None = None


@dataclass(frozen=True)
class FrameResult:
    reads: list[Read]
    sharpness: float
    sharp: bool
    ocr_vins: list[VinCheck] = field(default_factory=list)

    @property
    def codes(self) -> list[Code]:
        return [r.code for r in self.reads]

    @property
    def barcode_vins(self) -> list[VinFound]:
        out = []
        for r in self.reads:
            v = r.classified.vin if r.classified is not None else None
            if v is not None:
                out.append(VinFound(v.value, "barcode", v.verified, r.code.symbology, v.labelled))
        return out

    def best_vin(self) -> VinFound | None:
        """Barcode VINs first (labelled, then verified, first), then OCR. Two different
        OCR VINs on one still are ambiguity, not a reading: none."""
        ranked = sorted(self.barcode_vins, key=lambda v: (not v.labelled, not v.verified))
        if ranked:
            return ranked[0]
        if len(self.ocr_vins) == 1:
            v = self.ocr_vins[0]
            return VinFound(v.value, "ocr", v.verified, "TEXT", v.labelled)
        return None


class FrameScanner:
    """Scans frames for one camera. Use from one thread at a time; several scanners may
    share one VinOcr (its engine is thread-safe)."""

    def __init__(
        self,
        formats: list[str] | tuple[str, ...] = DEFAULT_FORMATS,
        ocr: VinOcr | None = None,
        sharp_threshold: float = SHARP_THRESHOLD,
        locate_1d: bool = True,
        rules: Iterable[SerialRule] = (),
    ) -> None:
        self.decoder = Decoder(formats, locate_1d=locate_1d)
        self.ocr = ocr
        self.sharp_threshold = sharp_threshold
        self.rules = tuple(rules)

    def scan(self, frame: np.ndarray, with_ocr: bool = False) -> FrameResult:
        gray = to_gray(frame)
        score = sharpness(gray)
        sharp = score >= self.sharp_threshold
        reads = [self._classify(c) for c in self.decoder.decode(gray, sharp)]
        result = FrameResult(reads, score, sharp)
        if with_ocr and not any(v.verified for v in result.barcode_vins):
            result = FrameResult(reads, score, sharp, self.read_vins(frame))
        return result

    def read_vins(self, frame: np.ndarray) -> list[VinCheck]:
        """VIN OCR on one frame (nothing without an OCR engine): the one OCR step, used
        by `scan(with_ocr=True)` and by the live station off its frame loop."""
        return self.ocr.read_vins(frame) if self.ocr is not None else []

    def _classify(self, code: Code) -> Read:
        try:
            return Read(code, classify(code.symbology, code.payload, self.rules, code.encoding))
        except PayloadError as exc:
            return Read(code, None, str(exc))


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
