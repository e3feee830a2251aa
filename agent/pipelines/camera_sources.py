"""Camera source strings -> frame sources, including `sim:` (the built-in simulator,
which only the agent may wire: drivers must not import simulators).

  sim:                    every scene kind, clean, 1280x720
  sim:KIND[,KIND...]      chosen kinds (qrcode, door_jamb, vin_plate, ...)
  sim:mjpeg               (not a source: use the MJPEG URL the simulator prints)
Anything else is the driver's business (V4L2 index or path, file, URL, dir:PATH).
"""

from __future__ import annotations

from agent.config import CameraConfig
from drivers.camera import FrameSource, IteratorSource, SourceError, open_source
from simulators.camera.scenes import KINDS
from simulators.camera.stream import SceneStream

__all__ = ["build_source", "source_for"]


def build_source(
    spec: str, width: int = 1280, height: int = 720, fps: float = 15.0, limit: int | None = None
) -> FrameSource:
    if spec.startswith("sim:"):
        kinds = tuple(k for k in spec[4:].split(",") if k) or KINDS
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise SourceError(f"unknown simulator scene kind(s) {bad}; known: {', '.join(KINDS)}")
        stream = SceneStream([(k, "clean") for k in kinds], (width, height), hold=3, limit=limit)
        return IteratorSource(stream, name=spec, live=False)
    return open_source(spec, width, height, fps)


def source_for(camera: CameraConfig) -> FrameSource:
    return build_source(camera.source, camera.width, camera.height, camera.fps)
