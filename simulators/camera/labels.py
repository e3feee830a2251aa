"""Flat label artwork: barcodes drawn with zxing-cpp's writer, text with a face from
fonts.py (Hershey Simplex by default; DejaVu TrueType faces for VIN plates, see scenes).

Every function returns a grayscale uint8 image of the label only (no background); the
scene composer places, warps and degrades it.
"""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

from simulators.camera.errors import SimulatorError
from simulators.camera.fonts import HERSHEY, render_line, text_size

__all__ = ["FORMATS", "code_image", "code_label", "door_jamb_label", "stripes_label", "text_label"]

# Our symbology names (upper-case, no separators) -> zxing-cpp writer formats.
FORMATS: dict[str, zxingcpp.BarcodeFormat] = {
    "QRCODE": zxingcpp.BarcodeFormat.QRCode,
    "DATAMATRIX": zxingcpp.BarcodeFormat.DataMatrix,
    "CODE128": zxingcpp.BarcodeFormat.Code128,
    "CODE39": zxingcpp.BarcodeFormat.Code39,
    "EAN13": zxingcpp.BarcodeFormat.EAN13,
    "UPCA": zxingcpp.BarcodeFormat.UPCA,
    "PDF417": zxingcpp.BarcodeFormat.PDF417,
    "ITF": zxingcpp.BarcodeFormat.ITF,
    "EAN8": zxingcpp.BarcodeFormat.EAN8,
    "UPCE": zxingcpp.BarcodeFormat.UPCE,
}
_MATRIX = ("QRCODE", "DATAMATRIX", "PDF417")


def code_image(symbology: str, payload: str, module_px: int, *, gs1: bool = False) -> np.ndarray:
    """The code alone, `module_px` pixels per module, with its quiet zone."""
    fmt = FORMATS.get(symbology)
    if fmt is None:
        raise SimulatorError(f"unknown symbology {symbology!r} (known: {', '.join(FORMATS)})")
    try:
        code = (
            zxingcpp.create_barcode(payload, fmt, gs1=True) if gs1 else zxingcpp.create_barcode(payload, fmt)
        )
    except Exception as exc:  # zxing-cpp raises ValueError/RuntimeError for bad content
        raise SimulatorError(f"cannot encode {payload!r} as {symbology}: {exc}") from None
    img = np.array(code.to_image(scale=module_px, add_quiet_zones=True), dtype=np.uint8)
    if symbology not in _MATRIX:
        # zxing's 1D images are 50 modules tall at most; labels are ~ a third as tall as wide.
        height = max(img.shape[0], img.shape[1] // 4)
        img = np.asarray(cv2.resize(img, (img.shape[1], height), interpolation=cv2.INTER_NEAREST), np.uint8)
    return img


def text_label(
    lines: list[str], scale: float = 1.0, background: int = 235, font: str = HERSHEY
) -> np.ndarray:
    """Lines of dark text on a light plate (a VIN plate or a plain text sticker)."""
    sizes = [text_size(line, scale, font) for line in lines]
    pad = int(30 * scale)
    width = max(w for w, _ in sizes) + 2 * pad
    line_h = max(h for _, h in sizes) + int(18 * scale)
    img = np.full((line_h * len(lines) + 2 * pad, width), background, np.uint8)
    for i, line in enumerate(lines):
        render_line(img, line, (pad, pad + (i + 1) * line_h - int(18 * scale)), scale, font)
    return img


def code_label(
    symbology: str, payload: str, module_px: int, caption: str | None = None, gs1: bool = False
) -> np.ndarray:
    """A white product label: the code, and an optional caption line under it."""
    code = code_image(symbology, payload, module_px, gs1=gs1)
    if caption is None:
        return code
    cap = text_label([caption], scale=0.7, background=255)
    width = max(code.shape[1], cap.shape[1])
    out = np.full((code.shape[0] + cap.shape[0], width), 255, np.uint8)
    out[: code.shape[0], : code.shape[1]] = code
    out[code.shape[0] :, : cap.shape[1]] = cap
    return out


def door_jamb_label(vin: str, code39_payload: str, maker: str) -> np.ndarray:
    """A door-jamb sticker: maker line, 'VIN' + the VIN in text, and a Code 39 of it."""
    header = text_label([f"MFD BY {maker}", "GVWR 2018KG  GAWR FRT 1050KG"], scale=0.6, background=255)
    vin_text = text_label([vin], scale=1.1, background=255)
    code = code_image("CODE39", code39_payload, 2)
    parts = [header, vin_text, code]
    width = max(p.shape[1] for p in parts)
    out = np.full((sum(p.shape[0] for p in parts), width), 255, np.uint8)
    y = 0
    for p in parts:
        out[y : y + p.shape[0], : p.shape[1]] = p
        y += p.shape[0]
    return out


def stripes_label(seed: int, width: int = 420, height: int = 140) -> np.ndarray:
    """Random vertical stripes: looks like a barcode to a localiser, decodes as nothing."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 255, np.uint8)
    x = 20
    while x < width - 20:
        w = int(rng.integers(2, 9))
        if rng.random() < 0.5:
            img[10:-10, x : x + w] = 0
        x += w
    return img
