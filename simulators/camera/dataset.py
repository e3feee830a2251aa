"""A labelled image set on disk: one PNG per scene plus manifest.json with the truth
(codes with symbology and payload, VIN or null, text), for `scan image` and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from simulators.camera.errors import SimulatorError
from simulators.camera.scenes import Scene

__all__ = ["write_set"]


def write_set(scenes: list[Scene], out: Path) -> Path:
    """Write the scenes and their manifest; returns the manifest path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulatorError(f"cannot create {out}: {exc.strerror}") from None
    entries = []
    for scene in scenes:
        name = f"{scene.name}.png"
        if not cv2.imwrite(str(out / name), scene.image):
            raise SimulatorError(f"cannot write {out / name}")
        entries.append({"file": name, **scene.manifest()})
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "scenes": entries}, indent=1) + "\n")
    return manifest
