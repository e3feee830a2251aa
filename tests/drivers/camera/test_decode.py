"""Decoding simulator scenes: every symbology under every legible degradation, rotated
1D labels, the sharpness gate, and bad frames."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.decode import Decoder
from drivers.camera.errors import FrameError
from drivers.camera.quality import SHARP_THRESHOLD, sharpness, to_gray
from drivers.camera.scanner import FrameScanner
from simulators.camera.scenes import make_scene

SIZE = (640, 480)
# Long 1D codes (a 17-character Code 39 is ~290 modules) need the camera's real 720p.
FULL = (1280, 720)
CODE_KINDS = ("qrcode", "datamatrix", "gs1_datamatrix", "code128", "code39", "ean13", "door_jamb")
LEGIBLE = ("clean", "rotated", "tilt", "blur", "noise", "glare", "lowlight")


@pytest.fixture(scope="module")
def scanner() -> FrameScanner:
    return FrameScanner()


@pytest.mark.parametrize("kind", CODE_KINDS)
@pytest.mark.parametrize("degradation", LEGIBLE)
def test_reads_every_symbology_under_degradation(scanner: FrameScanner, kind: str, degradation: str) -> None:
    scene = make_scene(kind, degradation, 7, FULL if kind in ("code39", "door_jamb") else SIZE)
    result = scanner.scan(scene.image)
    got = {(c.symbology, c.payload) for c in result.codes}
    for want in scene.codes:
        assert (want["symbology"], want["payload"]) in got, (scene.name, got)


@pytest.mark.parametrize("seed", range(6))
def test_rotated_1d_labels_need_localisation(seed: int) -> None:
    scene = make_scene("code128", "rotated", 100 + seed, SIZE)
    want = (scene.codes[0]["symbology"], scene.codes[0]["payload"])
    gray = to_gray(scene.image)
    ours = {c.key for c in Decoder(locate_1d=True).decode(gray)}
    assert want in ours


def test_door_jamb_code39_gives_verified_vin(scanner: FrameScanner) -> None:
    scene = make_scene("door_jamb", "tilt", 3, FULL)
    vin = scanner.scan(scene.image).best_vin()
    assert vin is not None and vin.value == scene.vin and vin.verified and vin.source == "barcode"


def test_positions_and_confidence_are_in_frame(scanner: FrameScanner) -> None:
    scene = make_scene("code39", "rotated", 2, SIZE)
    (code,) = scanner.scan(scene.image).codes
    assert 0 < code.confidence <= 1
    for x, y in code.position:
        assert -20 <= x <= SIZE[0] + 20 and -20 <= y <= SIZE[1] + 20


def test_sharpness_gate_separates_blur() -> None:
    sharp = sharpness(to_gray(make_scene("code128", "clean", 1, SIZE).image))
    hopeless = sharpness(to_gray(make_scene("code128", "blur_heavy", 1, SIZE).image))
    assert sharp > SHARP_THRESHOLD > hopeless


def test_stripes_and_text_decode_to_nothing(scanner: FrameScanner) -> None:
    for kind in ("stripes", "plain_text"):
        result = scanner.scan(make_scene(kind, "clean", 4, SIZE).image)
        assert result.codes == [] and result.best_vin() is None


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((4, 4), np.uint8),
        np.zeros((100, 100, 3), np.float32),
        np.zeros((100, 100, 2), np.uint8),
        "not an array",
    ],
)
def test_bad_frames_are_frame_errors(scanner: FrameScanner, frame: object) -> None:
    with pytest.raises(FrameError):
        scanner.scan(frame)  # type: ignore[arg-type]


def test_flat_frame_reads_nothing(scanner: FrameScanner) -> None:
    result = scanner.scan(np.full((120, 160, 3), 128, np.uint8))
    assert result.codes == [] and result.sharpness == 0.0 and not result.sharp


def test_huge_qr_payload_is_capped() -> None:
    import zxingcpp

    big = "A" * 4000  # an alphanumeric QR holds up to 4296 chars: over our cap
    img = np.array(zxingcpp.create_barcode(big, zxingcpp.BarcodeFormat.QRCode).to_image(scale=2))
    img = np.pad(img, 20, constant_values=255)
    codes = Decoder(["QRCode"]).decode(img)
    assert codes == []  # dropped, not truncated, not a crash
    small = np.pad(
        np.array(zxingcpp.create_barcode("A" * 1000, zxingcpp.BarcodeFormat.QRCode).to_image(scale=2)),
        20,
        constant_values=255,
    )
    assert [c.payload for c in Decoder(["QRCode"]).decode(small)] == ["A" * 1000]
