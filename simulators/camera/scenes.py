"""Scenes: a label placed on a textured background by a homography (rotation, tilt,
scale), then degraded (blur, noise, glare, low light). Each scene carries its truth.

Degradations are sized so the label stays legible to a human at 720p: they test the
pipeline's robustness, not its ability to read the unreadable — except `blur_heavy`
(sigma 3.5), which no decoder reads and which the sharpness gate should skip.

Text on VIN plates, near-miss plates and plain stickers is set in a DejaVu face drawn
per scene (sans, sans bold, mono, mono bold), like the sans-serif faces real plates use;
`font="hershey"` forces OpenCV's Hershey stroke font instead, the hard case that the
benchmark reports separately (fonts.py). The font is drawn after the VIN, so the same
seed gives the same VIN and placement in every font.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from simulators.camera import labels, plates
from simulators.camera.errors import SimulatorError
from simulators.camera.fonts import HERSHEY, PLATE_FONTS, WORLD_FONTS
from simulators.camera.shopcodes import SHOP_CODE_KINDS, shop_code
from simulators.camera.vins import near_miss_vins, random_vin

__all__ = ["DEGRADATIONS", "FONTS", "KINDS", "PLATE_KINDS", "Scene", "make_plate", "make_scene", "scene_set"]

DEGRADATIONS = ("clean", "rotated", "tilt", "blur", "noise", "glare", "lowlight", "blur_heavy")
KINDS: tuple[str, ...] = (
    "qrcode",
    "datamatrix",
    "code128",
    "code39",
    "ean13",
    "gs1_datamatrix",
    "vin_plate",
    "door_jamb",
    "negative_vin",
    "stripes",
    "plain_text",
    # Added with the plate styles (issue 13); the kinds above keep their pixels per seed.
    *SHOP_CODE_KINDS,
)
# VIN plates in the five styles of plates.py, their near-miss twins, and part labels.
PLATE_KINDS = (
    *(f"plate_{s}" for s in plates.STYLES),
    *(f"plate_{s}_neg" for s in plates.STYLES),
    "part_label",
)
KINDS = (*KINDS, *PLATE_KINDS)
FONTS = (*PLATE_FONTS, *(f for f in WORLD_FONTS if f not in PLATE_FONTS), HERSHEY)
_HEAVY = ("glare", "lowlight", "blur_heavy")
_MAKERS = ("HONDA OF AMERICA MFG", "TOYOTA MOTOR MFG", "FORD MOTOR CO", "TESLA INC")


@dataclass(frozen=True)
class Scene:
    """One frame's worth of truth: what a perfect reader would report."""

    name: str
    kind: str
    degradation: str
    image: np.ndarray = field(repr=False)
    codes: list[dict[str, str]] = field(default_factory=list)
    vin: str | None = None
    text: str | None = None
    font: str | None = None  # the face of the label's text, where it matters to OCR

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "degradation": self.degradation,
            "codes": self.codes,
            "vin": self.vin,
            "text": self.text,
            "font": self.font,
        }


def _background(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    base = rng.randint(70, 140)
    gx = np.linspace(-25, 25, w, dtype=np.float32)[None, :]
    gy = np.linspace(-15, 15, h, dtype=np.float32)[:, None]
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    tex = cv2.GaussianBlur(nprng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 3)
    gray = np.clip(base + gx + gy + tex, 0, 255).astype(np.uint8)
    tint = np.array([rng.uniform(0.85, 1.1) for _ in range(3)], np.float32)
    return np.asarray(np.clip(gray[:, :, None] * tint, 0, 255), np.uint8)


def _place(
    label: np.ndarray, canvas: np.ndarray, rng: random.Random, *, angle: float, tilt: float, frac: float
) -> None:
    """Warp the label onto the canvas: rotated by `angle` degrees, one side shrunk by `tilt`,
    as wide as `frac` of the frame, and kept inside the frame whatever the rotation."""
    h, w = label.shape[:2]
    ch, cw = canvas.shape[:2]
    rad = math.radians(angle)
    c, s = abs(math.cos(rad)), abs(math.sin(rad))
    fit = min(frac * cw / w, 0.7 * ch / h, 0.88 * cw / (w * c + h * s), 0.88 * ch / (w * s + h * c))
    fit *= rng.uniform(0.9, 1.0)
    hw, hh = w * fit / 2, h * fit / 2
    quad = np.array([[-hw, -hh], [hw, -hh * (1 - tilt)], [hw, hh * (1 - tilt)], [-hw, hh]], np.float32)
    rot = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]], np.float32)
    cx = cw / 2 + rng.uniform(-0.05, 0.05) * cw
    cy = ch / 2 + rng.uniform(-0.05, 0.05) * ch
    dst = (quad @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(label, m, (cw, ch), flags=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full_like(label, 255), m, (cw, ch), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    canvas[:] = (canvas * (1 - alpha) + warped[:, :, None].astype(np.float32) * alpha).astype(np.uint8)


def _degrade(img: np.ndarray, how: str, rng: random.Random) -> np.ndarray:
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    if how == "blur":
        return cv2.GaussianBlur(img, (0, 0), 1.0)
    if how == "blur_heavy":
        return cv2.GaussianBlur(img, (0, 0), 3.5)
    if how == "noise":
        return np.clip(img + nprng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    if how == "lowlight":
        dark = img.astype(np.float32) * 0.3 + nprng.normal(0, 3, img.shape)
        return np.clip(dark, 0, 255).astype(np.uint8)
    if how == "glare":
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = w * rng.uniform(0.25, 0.75), h * rng.uniform(0.2, 0.8)
        blob = np.exp(-(((xx - cx) / (0.12 * w)) ** 2 + ((yy - cy) / (0.2 * h)) ** 2))
        return np.asarray(np.clip(img + (110 * blob)[:, :, None], 0, 255), np.uint8)
    return img


_Content = tuple[np.ndarray, list[dict[str, str]], str | None, str | None, str | None]


def _face(rng: random.Random, font: str | None) -> str:
    drawn = rng.choice(PLATE_FONTS)  # always drawn: the rest of the scene is font-independent
    return drawn if font is None else font


def _content(kind: str, rng: random.Random, font: str | None) -> _Content:
    """(label artwork, expected codes, expected VIN, text on the label, its font)."""
    if kind in ("vin_plate", "negative_vin", "plain_text"):
        return _text_content(kind, rng, font)
    art, codes, vin, text = _code_content(kind, rng)
    return art, codes, vin, text, None


def _text_content(kind: str, rng: random.Random, font: str | None) -> _Content:
    if kind == "plain_text":
        text = ["OIL CHANGE DUE 12000 KM", "TIRE PRESSURE 2.4 BAR"]
        face = _face(rng, font)
        return labels.text_label(text, scale=1.0, font=face), [], None, " / ".join(text), face
    vin = random_vin(rng)
    shown = vin if kind == "vin_plate" else rng.choice(sorted(near_miss_vins(vin).items()))[1]
    face = _face(rng, font)
    art = labels.text_label(["VEHICLE IDENTIFICATION NO", shown], scale=1.3, font=face)
    return art, [], vin if kind == "vin_plate" else None, shown, face


# Service tags the manufacturer simulator knows (simulators/services/data/products.json).
DELL_TAGS = ("7XKQ9R2", "4HBM3Q1")


def _service_tag(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZ") for _ in range(7))


def _with_gs1_check(digits13: str) -> str:
    """A GTIN-14 from 13 digits and the GS1 mod-10 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits13))
    return digits13 + str((10 - total % 10) % 10)


def _code_content(
    kind: str, rng: random.Random
) -> tuple[np.ndarray, list[dict[str, str]], str | None, str | None]:
    """(label artwork, expected codes, expected VIN, text on the label)."""
    # A generic asset tag: "SN" + 9 hex is no shipped manufacturer's serial shape, so
    # the agent must leave it unattributed (a 12-character one read as an Apple serial:
    # 92 false registrations a minute, issue 12).
    serial = "SN" + "".join(rng.choice("0123456789ABCDEF") for _ in range(9))
    if kind == "qrcode":
        payload = f"BAYGATE:JOB:v1;id=J{rng.randrange(10**6):06d};bay=1"
        return (
            labels.code_label("QRCODE", payload, 5),
            [{"symbology": "QRCODE", "payload": payload}],
            None,
            None,
        )
    if kind == "datamatrix":
        vin = random_vin(rng)
        return (
            labels.code_label("DATAMATRIX", vin, 6),
            [{"symbology": "DATAMATRIX", "payload": vin}],
            vin,
            None,
        )
    if kind == "gs1_datamatrix":
        # A Dell product label: GTIN under Dell's GS1 company prefix 0884116, (21) its
        # 7-character service tag, some of them known to the manufacturer simulator.
        gtin = _with_gs1_check(f"00884116{rng.randrange(10**5):05d}")
        tag = rng.choice(DELL_TAGS) if rng.random() < 0.5 else _service_tag(rng)
        hri = f"(01){gtin}(21){tag}"
        art = labels.code_label("DATAMATRIX", hri, 6, gs1=True)
        return art, [{"symbology": "DATAMATRIX", "payload": hri}], None, None
    if kind in ("code128", "code39"):
        sym = kind.upper()
        return (
            labels.code_label(sym, serial, 3, caption=serial),
            [{"symbology": sym, "payload": serial}],
            None,
            serial,
        )
    if kind == "ean13":
        digits = "400638133393"
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
        ean = digits + str((10 - total % 10) % 10)
        return labels.code_label("EAN13", ean, 3), [{"symbology": "EAN13", "payload": ean}], None, None
    if kind == "door_jamb":
        vin = random_vin(rng)
        payload = "I" + vin if rng.random() < 0.5 else vin
        art = labels.door_jamb_label(vin, payload, rng.choice(_MAKERS))
        return art, [{"symbology": "CODE39", "payload": payload}], vin, vin
    if kind == "stripes":
        return labels.stripes_label(rng.randrange(1 << 30)), [], None, None
    if kind in SHOP_CODE_KINDS:
        return shop_code(kind, rng, serial)
    raise SimulatorError(f"unknown scene kind {kind!r} (known: {', '.join(KINDS)})")


def make_plate(
    style: str,
    level: str,
    seed: int,
    size: tuple[int, int] = (1280, 720),
    font: str | None = None,
    *,
    negative: bool = False,
) -> Scene:
    """A VIN plate of `style` (plates.STYLES, or 'part_label') at `level` (plates.LEVELS);
    `negative` shows a near-miss VIN instead. Deterministic per argument set."""
    if style not in (*plates.STYLES, "part_label") or level not in plates.LEVELS:
        known = f"styles {', '.join(plates.STYLES)}, part_label; levels {', '.join(plates.LEVELS)}"
        raise SimulatorError(f"unknown plate {style!r}/{level!r} ({known})")
    if font is not None and font not in FONTS:
        raise SimulatorError(f"unknown font {font!r} (known: {', '.join(FONTS)})")
    rng = random.Random(f"plate/{style}/{level}/{seed}/{negative}")
    vin = random_vin(rng)
    shown = rng.choice(sorted(near_miss_vins(vin).items()))[1] if negative else vin
    face = rng.choice(WORLD_FONTS) if font is None else font
    if style == "part_label":
        art, codes, shown = plates.part_label(rng, face)
        vin, negative = "", True
    else:
        art, codes = plates.plate_art(style, shown, rng, face)
    fx = plates.effects(level, rng)
    if "curve" in fx:
        art = plates.curve(art, fx["curve"])
    canvas = _background(rng, size)
    angle = rng.choice((-1, 1)) * fx["rotate"] if "rotate" in fx else rng.uniform(-3, 3)
    _place(art, canvas, rng, angle=angle, tilt=fx.get("tilt", 0.0), frac=0.62)
    if style == "windshield":
        canvas = plates.glass(canvas, rng)
    image = _apply(canvas, fx, rng)
    kind = style if style == "part_label" else f"plate_{style}" + ("_neg" if negative else "")
    return Scene(f"{kind}-{level}-{seed}", kind, level, image, codes, None if negative else vin, shown, face)


def _apply(img: np.ndarray, fx: dict[str, float], rng: random.Random) -> np.ndarray:
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    out = np.asarray(img, np.float64)
    if "blur" in fx:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), fx["blur"]), np.float64)
    if "glare" in fx:
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = w * rng.uniform(0.25, 0.75), h * rng.uniform(0.3, 0.7)
        blob = np.exp(-(((xx - cx) / (0.12 * w)) ** 2 + ((yy - cy) / (0.2 * h)) ** 2))
        out = out + (fx["glare"] * blob)[:, :, None]
    if "lowlight" in fx:
        out = out * fx["lowlight"]
    if "noise" in fx:
        out = out + nprng.normal(0, fx["noise"], out.shape)
    return np.asarray(np.clip(out, 0, 255), np.uint8)


def make_scene(
    kind: str, degradation: str, seed: int, size: tuple[int, int] = (1280, 720), font: str | None = None
) -> Scene:
    """One deterministic scene (same kind, degradation, seed and font -> same pixels).
    `font` (one of FONTS) overrides the face drawn for text scenes. Plate kinds map the
    degradation to a level (clean; glare, lowlight, blur_heavy -> heavy; else light)."""
    if degradation not in DEGRADATIONS:
        raise SimulatorError(f"unknown degradation {degradation!r} (known: {', '.join(DEGRADATIONS)})")
    if font is not None and font not in FONTS:
        raise SimulatorError(f"unknown font {font!r} (known: {', '.join(FONTS)})")
    if kind in PLATE_KINDS:
        level = "clean" if degradation == "clean" else "heavy" if degradation in _HEAVY else "light"
        style = kind.removeprefix("plate_").removesuffix("_neg")
        return make_plate(style, level, seed, size, font, negative=kind.endswith("_neg"))
    rng = random.Random(f"{kind}/{degradation}/{seed}")
    art, codes, vin, text, face = _content(kind, rng, font)
    canvas = _background(rng, size)
    angle = rng.uniform(-4, 4)
    tilt = 0.0
    if degradation == "rotated":
        angle = rng.choice((-1, 1)) * rng.uniform(15, 40)
    elif degradation == "tilt":
        tilt = rng.uniform(0.12, 0.22)
    frac = 0.3 if kind in ("qrcode", "datamatrix", "gs1_datamatrix") else 0.6
    _place(art, canvas, rng, angle=angle, tilt=tilt, frac=frac)
    image = _degrade(canvas, degradation, rng)
    return Scene(f"{kind}-{degradation}-{seed}", kind, degradation, image, codes, vin, text, face)


def scene_set(
    kinds: tuple[str, ...] = KINDS,
    degradations: tuple[str, ...] = DEGRADATIONS,
    per_cell: int = 1,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    *,
    font: str | None = None,
) -> list[Scene]:
    """Every kind under every degradation, `per_cell` seeds each."""
    return [
        make_scene(k, d, seed * 1000 + i, size, font=font)
        for k in kinds
        for d in degradations
        for i in range(per_cell)
    ]
