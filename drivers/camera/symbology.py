"""Symbology names on the wire: upper-case, no separators (QRCODE, CODE128, EAN13, ...).

One table maps zxing-cpp formats and pyzbar type names to these names, and config
format names (`"QRCode"`, `"Code 128"`, `"code128"`) to zxing-cpp formats.

One symbol, one name: a UPC-A is reported as the EAN-13 it is (a leading 0), whichever
decoder read it (zxing-cpp said EAN13 `0066721010995`, pyzbar UPCA `066721010995` for
the same carton: two records before).
"""

from __future__ import annotations

import re

import zxingcpp

from drivers.camera.errors import CameraError

__all__ = [
    "CAPACITY",
    "DEFAULT_FORMATS",
    "ONE_D",
    "canonical",
    "capacity",
    "normalise",
    "pyzbar_name",
    "zxing_formats",
    "zxing_name",
]

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
# Every format a shop meets: job tickets and pairing (QR), VIN and GS1 part marks
# (DataMatrix), registration and insurance cards (PDF417), door-jamb and part labels
# (Code 128, Code 39), cartons (ITF-14), retail parts (EAN-13/8, UPC-A/E).
DEFAULT_FORMATS = (
    "QRCODE",
    "DATAMATRIX",
    "PDF417",
    "CODE128",
    "CODE39",
    "ITF",
    "EAN13",
    "EAN8",
    "UPCA",
    "UPCE",
)
# The most characters a symbol of each kind can hold in any mode (ISO/IEC 18004 QR:
# 7,089 numeric, 4,296 alphanumeric, 2,953 bytes; 16022 DataMatrix 3,116 numeric;
# 15438 PDF417 2,710 numeric; 24778 Aztec 3,832 numeric; Micro QR 35 numeric). A
# payload longer than its symbology can carry did not come from a real symbol.
CAPACITY = {"QRCODE": 7089, "MICROQRCODE": 35, "DATAMATRIX": 3116, "PDF417": 2710, "AZTEC": 3832}
# 1D symbologies have no format limit; real labels carry < 50 characters, and a scan
# line longer than this (~1,400 modules of Code 128) is no label of ours.
_ONE_D_CAPACITY = 128
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


def capacity(symbology: str) -> int:
    """The most payload characters (or bytes) a symbol of this kind can carry."""
    return CAPACITY.get(symbology, _ONE_D_CAPACITY)


def canonical(symbology: str, payload: str) -> tuple[str, str]:
    """One name per symbol: UPC-A as EAN-13 with its leading 0."""
    if symbology == "UPCA" and len(payload) == 12 and payload.isdigit():
        return "EAN13", "0" + payload
    return symbology, payload
