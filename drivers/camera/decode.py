"""Barcode decoding of one grayscale frame: zxing-cpp on the whole frame (light-on-dark
symbols too: try_invert), then, on sharp frames, 1D localisation + straightening with
zxing-cpp and pyzbar on the crops, and a contrast-stretched retry for dim or faint frames.

A false code is worse than a miss. The straightened-crop path made reads with valid check
digits that raw zxing-cpp did not (4 on real EAN/UPC photos), so a crop read is accepted
only when a second, different read of the same crop agrees (zxing-cpp, pyzbar, the
CLAHE-stretched crop, the inverted crop): one decoder's lone guess on a warped crop is
dropped. Whole-frame zxing-cpp reads stand alone, as raw zxing-cpp does.

Sizes are bounded both ways: a frame under _MIN_SIDE px on a side is upscaled (zxing-cpp
reads a 256x4 ITF once it is tall enough to scan), one over _MAX_SIDE is downscaled
first (a 16000 px square took 21 s and 1.9 GB). Positions are in the caller's pixels.

Measured on this class of machine: zxing-cpp with only the configured formats ~26 ms per
720p frame; pyzbar ~3x slower, reads no DataMatrix, and on a BGR image silently uses the
blue channel only — so it only ever gets single-channel crops here.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from drivers.camera.errors import DecodeError
from drivers.camera.locate import Region, find_1d_regions, straighten
from drivers.camera.symbology import (
    DEFAULT_FORMATS,
    ONE_D,
    canonical,
    capacity,
    normalise,
    pyzbar_name,
    zxing_formats,
    zxing_name,
)

__all__ = ["Code", "Decoder"]

# Frame size bounds (see the module docstring). 4096 px keeps a 0.5 mm module of an A4
# sheet above 2 px; decoding a frame that size costs ~0.3 s here.
_MIN_SIDE = 32
_MAX_SIDE = 4096
# Below this mean or spread of intensity a frame counts as dim/faint and gets a
# CLAHE-stretched second pass (the 'lowlight' scenes: mean ~35, std ~20).
_DIM_MEAN = 60.0
_FAINT_STD = 28.0

_ZBAR_SYMBOLS = {
    "CODE128": pyzbar.ZBarSymbol.CODE128,
    "CODE39": pyzbar.ZBarSymbol.CODE39,
    "CODE93": pyzbar.ZBarSymbol.CODE93,
    "EAN13": pyzbar.ZBarSymbol.EAN13,
    "EAN8": pyzbar.ZBarSymbol.EAN8,
    "UPCA": pyzbar.ZBarSymbol.UPCA,
    "UPCE": pyzbar.ZBarSymbol.UPCE,
    "ITF": pyzbar.ZBarSymbol.I25,
    "CODABAR": pyzbar.ZBarSymbol.CODABAR,
}


@dataclass(frozen=True)
class Code:
    """One decoded symbol. `payload` is text (or base64 when `encoding` is base64);
    `position` its four corners in frame pixels; `confidence` 0-1 by how it was read
    (whole-frame with error correction > straightened crop > second decoder)."""

    symbology: str
    payload: str
    position: tuple[tuple[int, int], ...]
    confidence: float
    decoder: str
    encoding: str = "utf-8"
    gs1: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.symbology, self.payload


class Decoder:
    """Decodes frames for one camera. Not shared between threads (cheap to make)."""

    def __init__(
        self, formats: list[str] | tuple[str, ...] = DEFAULT_FORMATS, locate_1d: bool = True
    ) -> None:
        self.formats = tuple(normalise(f) for f in formats)
        self._zx = zxing_formats(self.formats)
        self._one_d = [f for f in self.formats if f in ONE_D]
        self._zx_1d = zxing_formats(self._one_d)
        self._zbar = [_ZBAR_SYMBOLS[f] for f in self._one_d if f in _ZBAR_SYMBOLS]
        self.locate_1d = locate_1d and bool(self._one_d)
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        self.over_capacity = 0  # payloads longer than their symbology can carry (dropped)
        self.lone_crop_reads = 0  # crop reads no second read confirmed (dropped)

    def decode(self, gray: np.ndarray, sharp: bool = True) -> list[Code]:
        """Every code found in the frame, de-duplicated by (symbology, payload)."""
        img, scale = _fit(gray)
        found: dict[tuple[str, str], Code] = {}
        self._add(found, self._zxing(img, self._zx, None, "zxing"))
        mean, std = cv2.meanStdDev(img)
        if not found and (float(mean[0][0]) < _DIM_MEAN or float(std[0][0]) < _FAINT_STD):
            self._add(found, self._zxing(self._clahe.apply(img), self._zx, None, "zxing-clahe", 0.9))
        if sharp and self.locate_1d:
            for region in find_1d_regions(img):
                if not any(_inside(region.centre, c.position) for c in found.values()):
                    self._add(found, self._crop(img, region))
        if scale == 1.0:
            return list(found.values())
        return [_rescaled(c, 1.0 / scale) for c in found.values()]

    @staticmethod
    def _add(found: dict[tuple[str, str], Code], codes: list[Code]) -> None:
        for c in codes:
            if c.key not in found or found[c.key].confidence < c.confidence:
                found[c.key] = c

    def _crop(self, gray: np.ndarray, region: Region) -> list[Code]:
        """Reads of one straightened 1D region that two different reads agree on: two
        decoders, or one decoder on two samplings of the bars (the crop and a 1.5x
        resampling of it; a misread comes from where the samples fall on the bars)."""
        crop, inv = straighten(gray, region)
        reads = [self._zxing(crop, self._zx_1d, inv, "zxing-crop", 0.9), self._pyzbar(crop, inv)]
        if not _agreed(reads):
            reads.append(self._zxing(self._clahe.apply(crop), self._zx_1d, inv, "zxing-crop-clahe", 0.85))
        if not any(reads):  # light bars on dark: zxing-cpp's try_invert does not cover 1D
            crop = cv2.bitwise_not(crop)
            reads += [self._zxing(crop, self._zx_1d, inv, "zxing-crop-inv", 0.85), self._pyzbar(crop, inv)]
        if any(reads) and not _agreed(reads):
            big = np.asarray(cv2.resize(crop, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR))
            scaled = inv.copy()
            scaled[:, :2] /= 1.5  # crop' -> crop -> frame
            reads += [self._zxing(big, self._zx_1d, scaled, "zxing-crop", 0.85), self._pyzbar(big, scaled)]
        agreed = _agreed(reads)
        self.lone_crop_reads += len({c.key for r in reads for c in r}) - len(agreed)
        return agreed

    def _zxing(
        self,
        img: np.ndarray,
        formats: tuple[zxingcpp.BarcodeFormat, ...],
        inv: np.ndarray | None,
        how: str,
        conf: float = 1.0,
    ) -> list[Code]:
        if not formats:
            return []
        try:
            results = zxingcpp.read_barcodes(img, formats=formats, try_invert=True)  # type: ignore[arg-type]
        except (ValueError, RuntimeError) as exc:
            raise DecodeError(f"zxing-cpp failed on a {img.shape} image: {exc}") from None
        out = []
        for r in results:
            if not r.valid:
                continue
            raw = bytes(r.bytes)
            sym = zxing_name(r.format)
            if len(raw) > capacity(sym):
                self.over_capacity += 1  # never pass such a payload along, even truncated
                continue
            pos = r.position
            pts = [(p.x, p.y) for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
            binary = r.content_type == zxingcpp.ContentType.Binary
            sym, text = canonical(sym, base64.b64encode(raw).decode() if binary else r.text)
            out.append(
                Code(
                    symbology=sym,
                    payload=text,
                    position=_map(pts, inv),
                    confidence=conf if sym not in ONE_D else conf * 0.95,
                    decoder=how,
                    encoding="base64" if binary else "utf-8",
                    gs1=r.content_type == zxingcpp.ContentType.GS1,
                )
            )
        return out

    def _pyzbar(self, crop: np.ndarray, inv: np.ndarray) -> list[Code]:
        if not self._zbar:
            return []
        # Single-channel on purpose: with a BGR array pyzbar reads the blue plane only.
        try:
            results = pyzbar.decode(crop, symbols=self._zbar)
        except Exception as exc:  # pyzbar raises PyZbarError/ctypes errors
            raise DecodeError(f"pyzbar failed on a {crop.shape} crop: {exc}") from None
        out = []
        for r in results:
            raw = bytes(r.data)
            sym = pyzbar_name(r.type)
            if not raw or len(raw) > capacity(sym):
                continue
            try:
                text, enc = raw.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                text, enc = base64.b64encode(raw).decode(), "base64"
            sym, text = canonical(sym, text)
            x, y, w, h = r.rect
            pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            out.append(Code(sym, text, _map(pts, inv), 0.8, "pyzbar-crop", enc))
        return out


def _agreed(reads: list[list[Code]]) -> list[Code]:
    """The codes at least two of the reads found (the most confident copy of each)."""
    votes: dict[tuple[str, str], list[Code]] = {}
    for read in reads:
        for key in {c.key for c in read}:
            best = max((c for c in read if c.key == key), key=lambda c: c.confidence)
            votes.setdefault(key, []).append(best)
    return [max(cs, key=lambda c: c.confidence) for cs in votes.values() if len(cs) >= 2]


def _fit(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame within the size bounds, and the factor applied to it."""
    h, w = gray.shape[:2]
    if min(h, w) < _MIN_SIDE:
        f = math.ceil(_MIN_SIDE / max(1, min(h, w)))
        f = max(1, min(f, _MAX_SIDE // max(h, w, 1)))
        if f > 1:
            return np.asarray(cv2.resize(gray, (w * f, h * f), interpolation=cv2.INTER_NEAREST)), float(f)
    if max(h, w) > _MAX_SIDE:
        f = _MAX_SIDE / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA)), f
    return gray, 1.0


def _rescaled(c: Code, f: float) -> Code:
    pos = tuple((round(x * f), round(y * f)) for x, y in c.position)
    return Code(c.symbology, c.payload, pos, c.confidence, c.decoder, c.encoding, c.gs1)


def _map(pts: list[tuple[int, int]], inv: np.ndarray | None) -> tuple[tuple[int, int], ...]:
    if inv is None:
        return tuple((int(x), int(y)) for x, y in pts)
    arr = np.hstack([np.asarray(pts, np.float64), np.ones((len(pts), 1))]) @ inv.T
    return tuple((round(float(x)), round(float(y))) for x, y in arr)


def _inside(point: tuple[float, float], poly: tuple[tuple[int, int], ...]) -> bool:
    contour = np.asarray(poly, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, point, False) >= 0
