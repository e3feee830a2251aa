"""Cameras: frame sources, barcode/QR decoding, VIN and serial OCR, frame quality.

Imports nothing of Baygate's outside this package. The agent wires it: sources ->
FrameGrabber (newest frame only) -> ChangeGate (on a Frame's tiny copy; JPEGs stay
compressed until a frame is let through) -> FrameScanner (decode + VIN) -> classify
-> dedupe.
"""

from drivers.camera.capture import FrameGrabber, Health
from drivers.camera.decode import Code, Decoder
from drivers.camera.dedupe import Deduper
from drivers.camera.errors import CameraError, DecodeError, FrameError, OcrError, PayloadError, SourceError
from drivers.camera.frame import Frame
from drivers.camera.ocr import TextBox, VinOcr
from drivers.camera.payload import Classified, classify
from drivers.camera.scanner import FrameResult, FrameScanner, OcrVinVoter, Read, VinFound
from drivers.camera.serials import SerialMatch, SerialRule
from drivers.camera.sources import (
    DirectorySource,
    FrameSource,
    IteratorSource,
    OpenCVSource,
    load_image,
    open_source,
)
from drivers.camera.vin import VinCheck, check_vin, vin_from_barcode, vins_in_text

__all__ = [
    "CameraError",
    "Classified",
    "Code",
    "DecodeError",
    "Decoder",
    "Deduper",
    "DirectorySource",
    "Frame",
    "FrameError",
    "FrameGrabber",
    "FrameResult",
    "FrameScanner",
    "FrameSource",
    "Health",
    "IteratorSource",
    "OcrError",
    "OcrVinVoter",
    "OpenCVSource",
    "PayloadError",
    "Read",
    "SerialMatch",
    "SerialRule",
    "SourceError",
    "TextBox",
    "VinCheck",
    "VinFound",
    "VinOcr",
    "check_vin",
    "classify",
    "load_image",
    "open_source",
    "vin_from_barcode",
    "vins_in_text",
]
