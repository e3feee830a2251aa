"""Text rendering for labels: TrueType faces from Debian's font packages through
Pillow, and OpenCV's Hershey Simplex stroke font.

Two sets: PLATE_FONTS, the four DejaVu faces the original scenes draw (kept as they
are, so every existing seed still gives the same pixels), and WORLD_FONTS, twelve faces
from five Debian packages that the plate styles of plates.py draw from: sans (Arial- and
Helvetica-like: Liberation Sans, Arimo, FreeSans), condensed (Liberation Sans Narrow),
monospace (Liberation Mono, Cousine, FreeMono, DejaVu Sans Mono), OCR-B (the ISO 1073-2
face of many stamped and printed VIN plates), and serif for paper forms (Tinos,
Liberation Serif). Every face is sized to the same cap height.

Real VIN plates and door-jamb stickers are printed or stamped in sans-serif faces
(Helvetica/Arial-like, OCR-B-like monospace on some); the DejaVu faces stand in for
those. Hershey Simplex is kept as a deliberately hard face: tesseract's English model
reads its bold '1' as 'L' and its flat-topped '3' and '5' as 'S' on every preprocessing
(measured on 56 plates: 9-15 of 56 lines misread in position 1), so it is how the
benchmark keeps reporting the hard case next to the realistic one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from simulators.camera.errors import SimulatorError

__all__ = ["FONT_DIRS", "HERSHEY", "PLATE_FONTS", "WORLD_FONTS", "font_package", "render_line", "text_size"]

HERSHEY = "hershey"
# Face name -> (file, Debian package). All in Debian 12 / Raspberry Pi OS.
_FACES = {
    "sans": ("DejaVuSans.ttf", "fonts-dejavu-core"),
    "sans_bold": ("DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "mono": ("DejaVuSansMono.ttf", "fonts-dejavu-core"),
    "mono_bold": ("DejaVuSansMono-Bold.ttf", "fonts-dejavu-core"),
    "liberation_sans": ("LiberationSans-Regular.ttf", "fonts-liberation"),
    "liberation_sans_bold": ("LiberationSans-Bold.ttf", "fonts-liberation"),
    "liberation_narrow": ("LiberationSansNarrow-Regular.ttf", "fonts-liberation"),
    "liberation_mono": ("LiberationMono-Regular.ttf", "fonts-liberation"),
    "liberation_serif": ("LiberationSerif-Regular.ttf", "fonts-liberation"),
    "arimo_bold": ("Arimo-Bold.ttf", "fonts-croscore"),
    "cousine": ("Cousine-Regular.ttf", "fonts-croscore"),
    "tinos": ("Tinos-Regular.ttf", "fonts-croscore"),
    "freesans": ("FreeSans.ttf", "fonts-freefont-ttf"),
    "freemono_bold": ("FreeMonoBold.ttf", "fonts-freefont-ttf"),
    "ocr_b": ("OCRB.otf", "fonts-ocr-b"),
}
_FILES = {face: file for face, (file, _) in _FACES.items()}
PLATE_FONTS = ("sans", "sans_bold", "mono", "mono_bold")
WORLD_FONTS = (
    "liberation_sans",
    "liberation_sans_bold",
    "liberation_narrow",
    "liberation_mono",
    "liberation_serif",
    "arimo_bold",
    "cousine",
    "tinos",
    "freesans",
    "freemono_bold",
    "ocr_b",
    "mono_bold",
)
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/croscore",
    "/usr/share/fonts/truetype/freefont",
    "/usr/share/fonts/opentype/ocr-b",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
)
# Hershey Simplex at scale 1.0: cap height 22 px (cv2.getTextSize); DejaVu caps are
# 0.729 em, so a TrueType face is sized to the same cap height as the Hershey text.
_HERSHEY_CAP = 22.0
_DEJAVU_CAP_EM = 0.729


def font_package(face: str) -> str:
    """The Debian package that ships a face."""
    return _FACES[face][1] if face in _FACES else "(none: built into OpenCV)"


@lru_cache(maxsize=64)
def _truetype(face: str, px: int) -> ImageFont.FreeTypeFont:
    entry = _FACES.get(face)
    if entry is None:
        raise SimulatorError(f"unknown font {face!r} (known: {HERSHEY}, {', '.join(_FACES)})")
    name, package = entry
    for d in FONT_DIRS:
        path = Path(d) / name
        if path.is_file():
            return ImageFont.truetype(str(path), px)
    raise SimulatorError(f"no {name} in {', '.join(FONT_DIRS)} (install {package})")


@lru_cache(maxsize=64)
def _cap_em(face: str) -> float:
    """The face's cap height in em (measured on 'H' at 200 px)."""
    if face in PLATE_FONTS:
        return _DEJAVU_CAP_EM  # as measured when the scenes were made: same pixels as before
    _, top, _, bottom = _truetype(face, 200).getbbox("H", anchor="ls")
    return max(0.3, (bottom - top) / 200)


def _px(scale: float, face: str = "sans") -> int:
    return max(8, round(_HERSHEY_CAP * scale / _cap_em(face)))


def _hershey_thickness(scale: float) -> int:
    return max(1, round(scale * 2))


def text_size(text: str, scale: float, face: str = HERSHEY) -> tuple[int, int]:
    """(width, height including descenders) of `text` at `scale` (1.0 = 22 px caps)."""
    if face == HERSHEY:
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, _hershey_thickness(scale))
        return w, h + base
    left, top, right, bottom = _truetype(face, _px(scale, face)).getbbox(text, anchor="ls")
    return round(right - min(0, left)), round(bottom - top)


def render_line(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, face: str = HERSHEY, *, fill: int = 0
) -> None:
    """Draw `text` in shade `fill` (0 = black) with its baseline-left at `org` (in place,
    uint8 gray)."""
    if face == HERSHEY:
        cv2.putText(
            img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, fill, _hershey_thickness(scale), cv2.LINE_AA
        )
        return
    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text(org, text, fill=fill, font=_truetype(face, _px(scale, face)), anchor="ls")
    img[:] = np.asarray(pil)
