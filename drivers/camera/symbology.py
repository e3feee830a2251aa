"""Symbology names on the wire: upper-case, no separators (QRCODE, CODE128, EAN13, ...).

One table maps zxing-cpp formats and pyzbar type names to these names, and config
format names (`"QRCode"`, `"Code 128"`, `"code128"`) to zxing-cpp formats.
"""

from __future__ import annotations

import re

import zxingcpp

from drivers.camera.errors import CameraError

__all__ = ["DEFAULT_FORMATS", "ONE_D", "normalise", "pyzbar_name", "zxing_formats", "zxing_name"]

# Our name -> zxing-cpp format (only the ones a bay meets; anything else is passed through).
_ZXING: dict[str, zxingcpp.BarcodeFormat] = {
    "QRCODE": zxingcpp.BarcodeFormat.QRCode,
    "MICROQRCODE": zxingcpp.BarcodeFormat.MicroQRCode,
    "DATAMATRIX": zxingcpp.BarcodeFormat.DataMatrix,
    "AZTEC": zxingcpp.BarcodeFormat.Aztec,
    "PDF417": zxingcpp.BarcodeFormat.PDF417,
    "CODE128": zxingcpp.BarcodeFormat.Code128,
    "CODE39": zxingcpp.BarcodeFormat.Code39,
    "CODE93": zxingcpp.BarcodeFormat.Code93,
    "CODABAR": zxingcpp.BarcodeFormat.Codabar,
    "EAN13": zxingcpp.BarcodeFormat.EAN13,
    "EAN8": zxingcpp.BarcodeFormat.EAN8,
    "UPCA": zxingcpp.BarcodeFormat.UPCA,
    "UPCE": zxingcpp.BarcodeFormat.UPCE,
    "ITF": zxingcpp.BarcodeFormat.ITF,
}
ONE_D = frozenset({"CODE128", "CODE39", "CODE93", "CODABAR", "EAN13", "EAN8", "UPCA", "UPCE", "ITF"})
DEFAULT_FORMATS = ("QRCODE", "DATAMATRIX", "CODE128", "CODE39", "EAN13", "UPCA")
_PYZBAR = {"QRCODE": "QRCODE", "I25": "ITF", "DATABAR": "DATABAR", "DATABAR_EXP": "DATABAREXP"}


def normalise(name: str) -> str:
    """'QR Code', 'qrcode', 'Code-128', 'EAN_13' -> 'QRCODE', 'CODE128', 'EAN13'."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def zxing_name(fmt: zxingcpp.BarcodeFormat) -> str:
    """Our name for a zxing-cpp result format (its enum name, normalised)."""
    return normalise(fmt.name)


def pyzbar_name(kind: str) -> str:
    return _PYZBAR.get(kind, normalise(kind))


def zxing_formats(names: list[str] | tuple[str, ...]) -> tuple[zxingcpp.BarcodeFormat, ...]:
    """Config names -> zxing-cpp formats; an unknown name is a CameraError naming it."""
    out = []
    for name in names:
        fmt = _ZXING.get(normalise(name))
        if fmt is None:
            raise CameraError(f"unknown barcode format {name!r} (known: {', '.join(_ZXING)})")
        out.append(fmt)
    return tuple(out)
