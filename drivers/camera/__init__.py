"""Cameras: frame sources, barcode/QR decoding, VIN and serial OCR, frame quality."""
