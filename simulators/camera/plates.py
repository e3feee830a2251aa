"""VIN plates as shops meet them, in five styles, and the effects between plate and lens.

Styles (label artwork, grayscale, the truth is the VIN string):
  sticker     door-jamb sticker: maker and weight lines, a part-number line 'PN33528
              SN00707630' next to the VIN line, half with a Code 39 of the VIN;
  stamped     stamped/embossed metal: no ink, the glyphs are only a highlight and a
              shadow on brushed metal (low contrast by nature);
  windshield  the dashboard plate seen through the windshield: light text on a dark
              plate, then (frame level) tinted glass, a reflection band and glare;
  dot_peen    dot-matrix marking: each glyph a grid of punched dots on metal;
  paper       a repair-order form: 'VIN: <vin>' among other fields, serif or sans.

Levels: clean (level, sharp), light (one of rotation, perspective, curvature, blur,
noise, glare), heavy (three of them, stronger; still legible to a person at 720p).

Negatives in every style carry a near-miss VIN (wrong check digit, I/O/Q, 16 chars);
`part_label` carries only PN/SN text and a Code 128 of the serial. None of this imports
the driver: truth comes from vins.py, written apart from it.
"""

from __future__ import annotations

import math
import random

import cv2
import numpy as np

from simulators.camera import labels
from simulators.camera.fonts import render_line, text_size

__all__ = ["LEVELS", "STYLES", "curve", "effects", "glass", "part_label", "plate_art"]

STYLES = ("sticker", "stamped", "windshield", "dot_peen", "paper")
LEVELS = ("clean", "light", "heavy")
_EFFECTS = ("rotate", "tilt", "curve", "blur", "noise", "glare", "lowlight")
_MAKERS = ("HONDA OF AMERICA MFG", "TOYOTA MOTOR MFG", "FORD MOTOR CO", "TESLA INC", "GENERAL MOTORS LLC")


def _canvas(lines: list[tuple[str, float, str]], bg: int, pad: int = 28) -> tuple[np.ndarray, list[int]]:
    """A blank plate sized for (text, scale, face) lines, and each line's baseline y."""
    sizes = [text_size(t, s, f) for t, s, f in lines]
    width = max(w for w, _ in sizes) + 2 * pad
    ys, y = [], pad
    for _, h in sizes:
        y += h + 10
        ys.append(y - 6)
    return np.full((y + pad, width), bg, np.uint8), ys


def _ink(lines: list[tuple[str, float, str]], bg: int, fg: int) -> np.ndarray:
    img, ys = _canvas(lines, bg)
    for (text, scale, face), y in zip(lines, ys, strict=True):
        render_line(img, text, (28, y), scale, face, fill=fg)
    return img


def _mask(lines: list[tuple[str, float, str]]) -> np.ndarray:
    """Glyph coverage 0-1 (float32) for the lines."""
    return (255 - _ink(lines, 255, 0)).astype(np.float32) / 255.0


def _metal(shape: tuple[int, int], rng: random.Random) -> np.ndarray:
    """Brushed metal: a mid grey with horizontal streaks."""
    h, w = shape
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    streaks = cv2.GaussianBlur(nprng.normal(0, 14, (h, w)).astype(np.float32), (0, 0), sigmaX=25, sigmaY=0.6)
    return np.asarray(rng.randint(140, 180) + streaks, np.float32)


def _stamped(lines: list[tuple[str, float, str]], rng: random.Random) -> np.ndarray:
    m = _mask(lines)
    base = _metal(m.shape, rng)
    d = max(1, round(m.shape[0] / 90))  # relief depth in px, ~1/30 of the cap height
    shifted = np.roll(np.roll(m, -d, 0), -d, 1) - np.roll(np.roll(m, d, 0), d, 1)
    depth = rng.uniform(45, 70)
    # Raised glyphs: light where the top-left edge catches the light, dark below-right.
    art = base + depth * shifted - 10 * m
    return np.asarray(np.clip(art, 0, 255), np.uint8)


def _dot_peen(lines: list[tuple[str, float, str]], rng: random.Random) -> np.ndarray:
    m = _mask(lines)
    base = _metal(m.shape, rng)
    cap = 22.0 * max(scale for _, scale, _ in lines)  # fonts.py: scale 1.0 = 22 px caps
    pitch = max(3, round(cap / 8))  # ~8 dots a cap height, as dot-peen markers punch
    radius = max(1, round(pitch * 0.45))
    # A dot wherever the glyph covers its grid cell (the marker follows the stroke).
    covered = cv2.dilate((m > 0.4).astype(np.uint8), np.ones((pitch // 2 + 1, pitch // 2 + 1), np.uint8))
    out = base.copy()
    jitter = max(0, pitch // 5)
    for y in range(pitch // 2, m.shape[0], pitch):
        for x in range(pitch // 2, m.shape[1], pitch):
            if covered[y, x]:
                cx, cy = x + rng.randint(-jitter, jitter), y + rng.randint(-jitter, jitter)
                cv2.circle(out, (cx, cy), radius, rng.uniform(30, 65), -1, cv2.LINE_AA)
    return np.asarray(np.clip(out, 0, 255), np.uint8)


def plate_art(
    style: str, shown: str, rng: random.Random, face: str
) -> tuple[np.ndarray, list[dict[str, str]]]:
    """(label artwork, codes on it) for a plate of `style` showing `shown` as its VIN."""
    if style == "sticker":
        pn = f"PN{rng.randrange(10**5):05d} SN{rng.randrange(10**8):08d}"
        lines = [
            (f"MFD BY {rng.choice(_MAKERS)}", 0.6, face),
            ("GVWR 2018KG  GAWR FRT 1050KG", 0.6, face),
            (pn, 0.75, face),
            (f"VIN {shown}", 1.1, face),
        ]
        art = _ink(lines, rng.randint(235, 250), rng.randint(0, 30))
        if rng.random() < 0.5:
            return art, []
        payload = "I" + shown if rng.random() < 0.5 else shown
        code = labels.code_image("CODE39", payload, 2)
        width = max(art.shape[1], code.shape[1])
        out = np.full((art.shape[0] + code.shape[0], width), 255, np.uint8)
        out[: art.shape[0], : art.shape[1]] = art
        out[art.shape[0] :, : code.shape[1]] = code
        return out, [{"symbology": "CODE39", "payload": payload}]
    if style == "stamped":
        return _stamped([(shown, 1.5, face)], rng), []
    if style == "windshield":
        return _ink([(shown, 1.2, face)], rng.randint(15, 45), rng.randint(190, 235)), []
    if style == "dot_peen":
        return _dot_peen([(shown, 2.0, face)], rng), []
    if style == "paper":
        lines = [
            (f"REPAIR ORDER {rng.randrange(10**5):05d}", 0.8, face),
            (f"VIN: {shown}", 1.0, face),
            (f"MILEAGE {rng.randrange(10**5)}   TECH {rng.randrange(100):02d}", 0.8, face),
        ]
        return _ink(lines, rng.randint(215, 245), rng.randint(10, 50)), []
    raise ValueError(style)


def part_label(rng: random.Random, face: str) -> tuple[np.ndarray, list[dict[str, str]], str]:
    """A part label: PN and SN text (17 characters once squeezed) and a Code 128 of the SN."""
    pn, sn = f"PN{rng.randrange(10**5):05d}", f"SN{rng.randrange(10**8):08d}"
    art = _ink([("OEM PART", 0.7, face), (f"{pn} {sn}", 1.1, face)], 245, 10)
    code = labels.code_image("CODE128", f"{pn} {sn}", 2)
    out = np.full((art.shape[0] + code.shape[0], max(art.shape[1], code.shape[1])), 255, np.uint8)
    out[: art.shape[0], : art.shape[1]] = art
    out[art.shape[0] :, : code.shape[1]] = code
    return out, [{"symbology": "CODE128", "payload": f"{pn} {sn}"}], f"{pn} {sn}"


def effects(level: str, rng: random.Random) -> dict[str, float]:
    """The effects of one level and their strengths (empty for clean)."""
    if level == "clean":
        return {}
    chosen = [rng.choice(_EFFECTS)] if level == "light" else rng.sample(_EFFECTS, 3)
    strong = level == "heavy"
    spans = {
        "rotate": (8, 20) if not strong else (15, 35),
        "tilt": (0.08, 0.16) if not strong else (0.15, 0.25),
        "curve": (0.04, 0.08) if not strong else (0.08, 0.14),
        "blur": (0.6, 1.0) if not strong else (1.0, 1.5),
        "noise": (5, 9) if not strong else (9, 14),
        "glare": (60, 90) if not strong else (90, 130),
        "lowlight": (0.5, 0.6) if not strong else (0.32, 0.42),
    }
    return {name: rng.uniform(*spans[name]) for name in chosen}


def curve(label: np.ndarray, k: float) -> np.ndarray:
    """The label wrapped round a cylinder: rows bow by k x height at the ends."""
    h, w = label.shape[:2]
    xs = (np.arange(w, dtype=np.float32) - w / 2) / (w / 2)
    bow = (k * h * xs**2)[None, :]
    map_x = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    map_y = np.arange(h, dtype=np.float32)[:, None] - bow + k * h / 2
    bg = int(np.median(label[:, :4]))
    out = cv2.remap(label, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=bg)
    return np.asarray(out, np.uint8)


def glass(frame: np.ndarray, rng: random.Random) -> np.ndarray:
    """A tinted windshield between plate and camera: darker, green-blue cast, a
    reflection band across the frame."""
    h, w = frame.shape[:2]
    tint = np.array([rng.uniform(0.7, 0.85), rng.uniform(0.65, 0.8), rng.uniform(0.5, 0.65)], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = math.radians(rng.uniform(20, 60))
    across = xx * math.cos(angle) + yy * math.sin(angle) - rng.uniform(0.3, 0.7) * w
    band = np.exp(-((across / (0.08 * w)) ** 2))
    out = frame.astype(np.float32) * tint + (rng.uniform(25, 45) * band)[:, :, None]
    return np.asarray(np.clip(out, 0, 255), np.uint8)
