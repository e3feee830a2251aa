"""VIN OCR in-process: PP-OCRv6 text detection + recognition on ONNX Runtime (RapidOCR).

Why this engine (measured, FACTS.md and docs/camera.md): on varied plates (door-jamb
stickers, stamped and embossed metal, light-on-dark windshield plates, dot-peen, paper)
tesseract with line finding read 13 of 60; RapidOCR with the check digit and no joining
of text boxes read 47 of 60 with 0 wrong. Its detector finds text lines at any angle and
in either polarity, and recognition runs on each levelled line crop, never on the frame.
The models ship inside the rapidocr wheel: nothing is downloaded at run time.

ONNX Runtime takes every core by default; `threads` bounds it (2 by default: on a 4-core
Pi 4/5 that leaves two cores to capture and barcode decoding). The direction classifier
(180 deg) is off: plates are read within +-90 deg of level, and it costs ~10 % per still.

What this module returns is text boxes. Which box text is a VIN is decided by
vin.vins_in_text (one box, one token, check digit) and nowhere else.

A VIN candidate must also survive second reads: its box, cut out level, is recognised
again smoothed (sigma = 1/32 of the line height) and with a margin of its own background
(the recogniser then sees the glyphs at another scale); each must read the same 17
characters. Why: on the tuning plates a dot-peen near miss '3VW6I8840V4228843' was read
'3VW616840V4228843' at score 0.97 — two misreads that happened to satisfy the check
digit (one in eleven such pairs do). Two reads of other pixels do not repeat a misread
like that; a disagreement is no reading. It costs two line reads (~30 ms) per candidate
only.

Dot-peen plates (each glyph a grid of punched dots) are the one style the frame as it
is reads poorly: the detector splits or misses the dotted line, and the recogniser takes
dots for other glyphs (on the tuning plates, seeds 100-115: 21 of 48 read). A frame
with text but no VIN is read again with its dark dots joined into strokes (a grey
opening) and then blurred (`JOINS`), detection included; each pass's reads are pooled
with the earlier ones; two reads of the pool must agree, one of them a text box's own
read (not a smoothed re-read, see `_vote`): 33 of 48 read, 0 wrong, 0 false VINs on
their 48 near-miss twins. Characters are never changed. Cost: one detection and
recognition per extra pass, on frames with text but without a VIN only (bench, same
load: 992 -> 1143 ms mean per still, +15 %).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.camera.errors import OcrError
from drivers.camera.vin import VinCheck, vins_in_text

__all__ = ["DEFAULT_THREADS", "MIN_TEXT_SCORE", "TextBox", "VinOcr", "engine_problem"]

DEFAULT_THREADS = 2
# Recognition confidence below which a box is not considered at all. VIN lines on the
# simulator's plates score 0.95-1.0 even degraded; misreads that still hit 17 characters
# scored 0.6-0.85. The check digit is the real guard; this only saves work.
MIN_TEXT_SCORE = 0.7
# The detector's input: the shorter side scaled to this (RapidOCR's default, 736 px,
# is ~1:1 for 720p frames; smaller lost the thin strokes of dot-peen plates).
_DET_SIDE = 736
_DET_LIMIT = "min"
# Frames larger than this on their longer side are downscaled before detection (a
# 16000 px image must not cost gigabytes); RapidOCR does the same at 2000 px.
_MAX_SIDE = 2000
# A box worth second reads: a run of 16-20 VIN-ish characters (a misread may have
# added or lost one, or broken the check digit).
_VINLIKE = re.compile(r"[A-Z0-9]{16,20}")
_AGREE = 2  # reads of three that must give the same VIN


@dataclass(frozen=True)
class TextBox:
    """One detected text line: its text, recognition score and four corners in frame px."""

    text: str
    score: float
    corners: tuple[tuple[int, int], ...]


# The models rapidocr's default configuration loads, shipped inside its wheel.
_MODELS = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx")


def engine_problem() -> str | None:
    """Why the OCR engine could not start here (for `doctor`), or None. Cheap: looks
    for the packages and the model files without loading them."""
    import importlib.util

    for module in ("onnxruntime", "rapidocr"):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {module} is not installed"
    spec = importlib.util.find_spec("rapidocr")
    root = Path(spec.origin).parent / "models" if spec is not None and spec.origin else None
    missing = [m for m in _MODELS if root is None or not (root / m).is_file()]
    return f"rapidocr's models are missing: {', '.join(missing)}" if missing else None


def _quiet_rapidocr() -> None:
    # rapidocr installs its own coloured stderr handler on the 'RapidOCR' logger and
    # turns propagation off: its lines would bypass our JSON logs. Route them to ours.
    lg = logging.getLogger("RapidOCR")
    for h in list(lg.handlers):
        lg.removeHandler(h)
    lg.propagate = True
    # It warns 'The text detection result is empty' for every frame without text:
    # routine here (most frames), so only its errors are kept.
    lg.setLevel(logging.ERROR)


def _no_telemetry() -> None:
    """ONNX Runtime 1.32 carries Microsoft's 1DS usage telemetry: it writes
    ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ and may upload from a shop's LAN.
    A bay's camera frames are the customer's; nothing leaves but our own records.
    Both switches: the variable for the native library, the call for this process."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime

    onnxruntime.disable_telemetry_events()


class VinOcr:
    """Reads text lines and VINs from frames. Thread-safe (ONNX Runtime sessions are);
    the engine is built on first use (~0.5 s, models from the wheel)."""

    def __init__(self, threads: int = DEFAULT_THREADS, min_score: float = MIN_TEXT_SCORE) -> None:
        if threads < 1:
            raise OcrError(f"OCR threads must be >= 1, got {threads}")
        self.threads = threads
        self.min_score = min_score
        self._engine: Any = None
        self._lock = threading.Lock()
        # RapidOCR keeps use_det/use_rec from the last call in the engine itself: calls
        # are serialised so a line read never runs while a frame read expects detection
        # (one engine's threads already fill `threads` cores; cameras take turns).
        self._call = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                try:
                    _no_telemetry()
                    from rapidocr import RapidOCR

                    _quiet_rapidocr()
                    self._engine = RapidOCR(
                        params={
                            "Global.log_level": "warning",
                            "Global.use_cls": False,
                            "Global.max_side_len": _MAX_SIDE,
                            "Det.limit_side_len": _DET_SIDE,
                            "Det.limit_type": _DET_LIMIT,
                            "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                        }
                    )
                    _quiet_rapidocr()
                except Exception as exc:  # ImportError, onnxruntime load failures, bad config
                    raise OcrError(f"the OCR engine cannot start: {type(exc).__name__}: {exc}") from None
            return self._engine

    def read_text(self, frame: np.ndarray) -> list[TextBox]:
        """Every text line in a frame (gray or BGR uint8), recognised on its own crop."""
        img = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        engine = self._get()
        try:
            with self._call:
                out = engine(img, use_det=True, use_cls=False, use_rec=True)
        except Exception as exc:  # onnxruntime / OpenCV errors on a strange image
            raise OcrError(f"OCR failed on a {frame.shape} image: {type(exc).__name__}: {exc}") from None
        boxes = getattr(out, "boxes", None)
        txts = getattr(out, "txts", None) or ()
        scores = getattr(out, "scores", None) or ()
        if boxes is None:
            return []
        found = []
        for quad, text, score in zip(boxes, txts, scores, strict=False):
            corners = tuple((round(float(x)), round(float(y))) for x, y in np.asarray(quad).reshape(-1, 2))
            found.append(TextBox(str(text), float(score), corners))
        return found

    def read_line(self, line: np.ndarray) -> str:
        """Recognition only, on one level text-line crop (gray or BGR)."""
        img = line if line.ndim == 3 else cv2.cvtColor(line, cv2.COLOR_GRAY2BGR)
        engine = self._get()
        try:
            with self._call:
                out = engine(img, use_det=False, use_cls=False, use_rec=True)
        except Exception as exc:
            raise OcrError(f"OCR failed on a {line.shape} line: {type(exc).__name__}: {exc}") from None
        txts = getattr(out, "txts", None) or ()
        return " ".join(str(t) for t in txts)

    def read_vins(self, frame: np.ndarray) -> list[VinCheck]:
        """The verified VINs in a frame: each one token of one text box, read the same
        by at least two reads of that line (see the module docstring). When the frame as
        it is gives none, the dots of a dot-peen plate are joined and the frame is read
        again, its reads pooled with the earlier ones (see `JOINS`)."""
        pooled: list[tuple[bool, list[VinCheck]]] = []
        boxes = self.read_text(frame)
        found = self._vote(frame, boxes, pooled, anchored=False)
        # A frame without any text box (an empty bay, a wall) is not read again: each
        # join costs a detection, and on the tuning plates only 1 of 72 dot-peen plates
        # had no box at all in the first pass (the live path with the change gate off
        # spends its OCR on such frames).
        for join in JOINS if boxes else ():
            if found:
                break
            joined = join(frame)
            found = self._vote(joined, self.read_text(joined), pooled, anchored=True)
        return found

    def _vote(
        self,
        frame: np.ndarray,
        boxes: list[TextBox],
        pooled: list[tuple[bool, list[VinCheck]]],
        *,
        anchored: bool,
    ) -> list[VinCheck]:
        """Reads each VIN-like box (of `boxes`, detected in `frame`) three times into `pooled` (the box's own
        read, then its two smoothed reads); the VINs that two reads in `pooled` agree
        on, one of them a box's own read when `anchored`. Why anchored after a join:
        the smoothed reads of a joined frame are twice smoothed and lose the same detail
        the same way; on a dot-peen near miss (test seed 4) '3VWJTJ4Z6XMO87092' both
        smoothed reads of the opened frame gave '3VWJTJ426XMD87092' (Z as 2, O as D),
        a valid check digit, while every box read kept the O. On the tuning plates the
        anchor cost no read (34 of 48 either way, before frames without any text box
        were left out of the joins)."""
        for box in boxes:
            if box.score < self.min_score or not _VINLIKE.search(box.text.upper()):
                continue
            pooled.append((True, vins_in_text(box.text)))
            pooled += [(False, vins_in_text(self.read_line(x))) for x in _variants(frame, box)]
        votes: dict[str, int] = {}
        boxed: set[str] = set()
        for own, read in pooled:
            for value in {v.value for v in read}:
                votes[value] = votes.get(value, 0) + 1
                if own:
                    boxed.add(value)
        found = {
            vin.value: vin
            for _, read in pooled
            for vin in read
            if votes[vin.value] >= _AGREE and (vin.value in boxed or not anchored)
        }
        return sorted(found.values(), key=lambda v: v.value)


def _variants(frame: np.ndarray, box: TextBox) -> list[np.ndarray]:
    """The box cut out level, smoothed, and with a margin of its own background."""
    pts = np.asarray(box.corners, np.float32)
    w = round(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = round(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    if w < 4 or h < 4:
        return []
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(pts, dst)
    crop = np.asarray(
        cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    )
    return [np.asarray(cv2.GaussianBlur(crop, (0, 0), max(0.7, h / d))) for d in SIGMAS]


SIGMAS = (32, 18)


def _opened(frame: np.ndarray) -> np.ndarray:
    """Dark dots joined into strokes: a grey-level opening (minimum, then maximum, over a
    5 px disc). The simulator's dot-peen plates fill a frame at a dot pitch of 4-7 px,
    so a 5 px disc bridges the gaps between the dots of one stroke; the maximum gives the
    strokes back their width. On the tuning plates (seeds 100-115, 48 dot-peen) this
    pass read 11 that the frame as it is did not (3 px: 9, 7 px: fewer)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return np.asarray(cv2.dilate(cv2.erode(frame, disc), disc))


def _blurred(frame: np.ndarray) -> np.ndarray:
    """Dots of either polarity smeared into strokes: a Gaussian blur of sigma 1.5 px
    (about a third of the dot pitch). After the opening it read 2 more of the 48."""
    return np.asarray(cv2.GaussianBlur(frame, (0, 0), 1.5))


# The passes tried, in order, on a frame in which nothing verified was read yet.
JOINS = (_opened, _blurred)
