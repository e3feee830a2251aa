"""Text rendering for labels: TrueType sans-serif faces (DejaVu, Debian's
fonts-dejavu-core) through Pillow, and OpenCV's Hershey Simplex stroke font.

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

__all__ = ["FONT_DIRS", "HERSHEY", "PLATE_FONTS", "render_line", "text_size"]

HERSHEY = "hershey"
# Face name -> file in fonts-dejavu-core (present on Debian 12 and Raspberry Pi OS).
_FILES = {
    "sans": "DejaVuSans.ttf",
    "sans_bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono_bold": "DejaVuSansMono-Bold.ttf",
}
PLATE_FONTS = tuple(_FILES)
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
# Hershey Simplex at scale 1.0: cap height 22 px (cv2.getTextSize); DejaVu caps are
# 0.729 em, so a TrueType face is sized to the same cap height as the Hershey text.
_HERSHEY_CAP = 22.0
_DEJAVU_CAP_EM = 0.729


@lru_cache(maxsize=32)
def _truetype(face: str, px: int) -> ImageFont.FreeTypeFont:
    name = _FILES.get(face)
    if name is None:
        raise SimulatorError(f"unknown font {face!r} (known: {HERSHEY}, {', '.join(_FILES)})")
    for d in FONT_DIRS:
        path = Path(d) / name
        if path.is_file():
            return ImageFont.truetype(str(path), px)
    raise SimulatorError(f"no {name} in {', '.join(FONT_DIRS)} (install fonts-dejavu-core)")


def _px(scale: float) -> int:
    return max(8, round(_HERSHEY_CAP * scale / _DEJAVU_CAP_EM))


def _hershey_thickness(scale: float) -> int:
    return max(1, round(scale * 2))


def text_size(text: str, scale: float, face: str = HERSHEY) -> tuple[int, int]:
    """(width, height including descenders) of `text` at `scale` (1.0 = 22 px caps)."""
    if face == HERSHEY:
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, _hershey_thickness(scale))
        return w, h + base
    left, top, right, bottom = _truetype(face, _px(scale)).getbbox(text, anchor="ls")
    return round(right - min(0, left)), round(bottom - top)


def render_line(img: np.ndarray, text: str, org: tuple[int, int], scale: float, face: str = HERSHEY) -> None:
    """Draw `text` in black with its baseline-left at `org` (in place, uint8 gray)."""
    if face == HERSHEY:
        cv2.putText(
            img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, _hershey_thickness(scale), cv2.LINE_AA
        )
        return
    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text(org, text, fill=0, font=_truetype(face, _px(scale)), anchor="ls")
    img[:] = np.asarray(pil)
