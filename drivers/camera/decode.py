"""Barcode decoding of one grayscale frame: zxing-cpp on the whole frame, then, on sharp
frames, 1D localisation + straightening with zxing-cpp and pyzbar on the crops, and a
contrast-stretched retry for dim or faint frames.

Measured on this class of machine: zxing-cpp with only the configured formats ~26 ms per
720p frame; pyzbar ~3x slower, reads no DataMatrix, and on a BGR image silently uses the
blue channel only — so it only ever gets single-channel crops here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from drivers.camera.errors import DecodeError
from drivers.camera.locate import Region, find_1d_regions, straighten
from drivers.camera.symbology import DEFAULT_FORMATS, ONE_D, normalise, pyzbar_name, zxing_formats, zxing_name

__all__ = ["MAX_PAYLOAD_BYTES", "Code", "Decoder"]

# A QR code holds at most 2953 bytes; 3072 keeps base64 of any payload within the
# scan record's 4096-character field. Anything larger is not a code we asked for.
MAX_PAYLOAD_BYTES = 3072
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

    def decode(self, gray: np.ndarray, sharp: bool = True) -> list[Code]:
        """Every code found in the frame, de-duplicated by (symbology, payload)."""
        found: dict[tuple[str, str], Code] = {}
        self._add(found, self._zxing(gray, self._zx, None, "zxing"))
        mean, std = cv2.meanStdDev(gray)
        if not found and (float(mean[0][0]) < _DIM_MEAN or float(std[0][0]) < _FAINT_STD):
            self._add(found, self._zxing(self._clahe.apply(gray), self._zx, None, "zxing-clahe", 0.9))
        if sharp and self.locate_1d:
            for region in find_1d_regions(gray):
                if not any(_inside(region.centre, c.position) for c in found.values()):
                    self._add(found, self._crop(gray, region))
        return list(found.values())

    @staticmethod
    def _add(found: dict[tuple[str, str], Code], codes: list[Code]) -> None:
        for c in codes:
            if c.key not in found or found[c.key].confidence < c.confidence:
                found[c.key] = c

    def _crop(self, gray: np.ndarray, region: Region) -> list[Code]:
        crop, inv = straighten(gray, region)
        codes = self._zxing(crop, self._zx_1d, inv, "zxing-crop", 0.9)
        if not codes and self._zbar:
            codes = self._pyzbar(crop, inv)
        if not codes:
            codes = self._zxing(self._clahe.apply(crop), self._zx_1d, inv, "zxing-crop-clahe", 0.85)
        return codes

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
            results = zxingcpp.read_barcodes(img, formats=formats, try_invert=False)  # type: ignore[arg-type]
        except (ValueError, RuntimeError) as exc:
            raise DecodeError(f"zxing-cpp failed on a {img.shape} image: {exc}") from None
        out = []
        for r in results:
            if not r.valid:
                continue
            raw = bytes(r.bytes)
            if len(raw) > MAX_PAYLOAD_BYTES:
                continue  # never pass a payload over the cap along, even truncated
            pos = r.position
            pts = [(p.x, p.y) for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
            binary = r.content_type == zxingcpp.ContentType.Binary
            sym = zxing_name(r.format)
            out.append(
                Code(
                    symbology=sym,
                    payload=base64.b64encode(raw).decode() if binary else r.text,
                    position=_map(pts, inv),
                    confidence=conf if sym not in ONE_D else conf * 0.95,
                    decoder=how,
                    encoding="base64" if binary else "utf-8",
                    gs1=r.content_type == zxingcpp.ContentType.GS1,
                )
            )
        return out

    def _pyzbar(self, crop: np.ndarray, inv: np.ndarray) -> list[Code]:
        # Single-channel on purpose: with a BGR array pyzbar reads the blue plane only.
        try:
            results = pyzbar.decode(crop, symbols=self._zbar)
        except Exception as exc:  # pyzbar raises PyZbarError/ctypes errors
            raise DecodeError(f"pyzbar failed on a {crop.shape} crop: {exc}") from None
        out = []
        for r in results:
            raw = bytes(r.data)
            if not raw or len(raw) > MAX_PAYLOAD_BYTES:
                continue
            try:
                text, enc = raw.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                text, enc = base64.b64encode(raw).decode(), "base64"
            x, y, w, h = r.rect
            pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            out.append(Code(pyzbar_name(r.type), text, _map(pts, inv), 0.8, "pyzbar-crop", enc))
        return out


def _map(pts: list[tuple[int, int]], inv: np.ndarray | None) -> tuple[tuple[int, int], ...]:
    if inv is None:
        return tuple((int(x), int(y)) for x, y in pts)
    arr = np.hstack([np.asarray(pts, np.float64), np.ones((len(pts), 1))]) @ inv.T
    return tuple((round(float(x)), round(float(y))) for x, y in arr)


def _inside(point: tuple[float, float], poly: tuple[tuple[int, int], ...]) -> bool:
    contour = np.asarray(poly, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, point, False) >= 0
