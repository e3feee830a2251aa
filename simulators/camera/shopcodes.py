"""The symbols added for issue 13: the rest of a shop's formats (PDF417, ITF-14, EAN-8,
UPC-E), inverted symbols, and a labelled QR VIN next to a DataMatrix part number that is
itself a valid VIN. Truth payloads are what a reader reports (check digits included,
UPC-E expanded to its GTIN-13), computed here apart from the driver.
"""

from __future__ import annotations

import random

import numpy as np

from simulators.camera import labels
from simulators.camera.vins import random_vin

__all__ = ["SHOP_CODE_KINDS", "shop_code"]

SHOP_CODE_KINDS = ("pdf417", "itf", "ean8", "upce", "inverted_qr", "inverted_datamatrix", "vin_qr_vs_dm")
_Content = tuple[np.ndarray, list[dict[str, str]], str | None, str | None]


def shop_code(kind: str, rng: random.Random, serial: str) -> _Content:
    """(label artwork, expected codes, expected VIN, text) for one of SHOP_CODE_KINDS."""
    one = {
        "pdf417": ("PDF417", f"DL{rng.randrange(10**8):08d} REG EXP 2027-06 PLATE 7A{rng.randrange(999)}", 2),
        "itf": ("ITF", "1" + "".join(rng.choice("0123456789") for _ in range(12)), 3),
        "ean8": ("EAN8", "9638507", 3),
        "upce": ("UPCE", "0123456", 3),
    }
    if kind in one:
        sym, payload, module = one[kind]
        art = labels.code_label(sym, _with_check(sym, payload), module)
        return art, [{"symbology": sym, "payload": _truth(sym, payload)}], None, None
    if kind in ("inverted_qr", "inverted_datamatrix"):
        sym = "QRCODE" if kind == "inverted_qr" else "DATAMATRIX"
        art = 255 - labels.code_label(sym, serial, 6)
        return art, [{"symbology": sym, "payload": serial}], None, None
    if kind != "vin_qr_vs_dm":
        raise ValueError(kind)
    vin, decoy = random_vin(rng), random_vin(rng)
    qr = labels.code_label("QRCODE", f"VIN:{vin}", 5)
    dm = labels.code_label("DATAMATRIX", decoy, 6)
    art = np.full((max(qr.shape[0], dm.shape[0]), qr.shape[1] + dm.shape[1] + 40), 255, np.uint8)
    art[: qr.shape[0], : qr.shape[1]] = qr
    art[: dm.shape[0], qr.shape[1] + 40 :] = dm
    codes = [
        {"symbology": "QRCODE", "payload": f"VIN:{vin}"},
        {"symbology": "DATAMATRIX", "payload": decoy},
    ]
    return art, codes, vin, None


def _ean_check(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == (len(digits) % 2 == 0) else 1) for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


def _with_check(sym: str, payload: str) -> str:
    """The payload to encode: zxing-cpp's writer adds the EAN-8/UPC-E check digit, but
    encodes ITF digits as given (ITF-14 carries a GTIN check digit of its own)."""
    return payload + _ean_check(payload) if sym == "ITF" else payload


def _truth(sym: str, payload: str) -> str:
    """What a reader reports: the payload with its check digit; UPC-E expanded to GTIN-13."""
    if sym in ("EAN8", "ITF"):
        return payload + _ean_check(payload)
    if sym == "UPCE":
        ns, d = payload[0], payload[1:]
        if d[5] in "012":
            upca = ns + d[0:2] + d[5] + "0000" + d[2:5]
        elif d[5] == "3":
            upca = ns + d[0:3] + "00000" + d[3:5]
        elif d[5] == "4":
            upca = ns + d[0:4] + "00000" + d[4]
        else:
            upca = ns + d[0:5] + "0000" + d[5]
        return "0" + upca + _ean_check(upca)
    return payload
