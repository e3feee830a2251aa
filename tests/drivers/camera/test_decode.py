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


def _symbol(fmt: str, payload: str, scale: int = 2, pad: int = 20) -> np.ndarray:
    import zxingcpp

    code = zxingcpp.create_barcode(payload, getattr(zxingcpp.BarcodeFormat, fmt))
    return np.pad(np.array(code.to_image(scale=scale), np.uint8), pad, constant_values=255)


def test_the_largest_alphanumeric_qr_is_read_whole() -> None:
    # Issue 12: a valid 4,296-character alphanumeric QR (version 40-L) was dropped by a
    # 3,072-byte cap below the symbology's capacity.
    big = "A1" * 2148
    codes = Decoder(["QRCode"]).decode(_symbol("QRCode", big))
    assert [c.payload for c in codes] == [big]
    assert classify_kind(codes[0].payload) == "raw"  # the classifier takes it too


def test_payload_over_the_symbology_capacity_is_dropped() -> None:
    # 200 digits (Code 128 set C) is past the 1D bound: no label of ours carries that.
    dec = Decoder(["Code128"])
    codes = dec.decode(_symbol("Code128", "1" * 200, scale=1))
    assert codes == [] and dec.over_capacity >= 1


def test_inverted_symbols_are_read() -> None:
    for fmt in ("QRCode", "DataMatrix"):
        img = 255 - _symbol(fmt, "JOB-42", scale=4, pad=40)
        assert [c.payload for c in Decoder([fmt]).decode(img)] == ["JOB-42"], fmt


@pytest.mark.parametrize(
    ("fmt", "payload", "want"),
    [
        ("PDF417", "DL123456789 SMITH JOHN", ("PDF417", "DL123456789 SMITH JOHN")),
        ("ITF", "00012345678905", ("ITF", "00012345678905")),
        ("EAN8", "96385074", ("EAN8", "96385074")),
        ("UPCE", "01234565", ("UPCE", "0012345000065")),  # both decoders expand it
        ("UPCA", "066721010995", ("EAN13", "0066721010995")),  # one canonical form
    ],
)
def test_shop_formats_are_on_by_default(fmt: str, payload: str, want: tuple[str, str]) -> None:
    got = {c.key for c in Decoder().decode(_symbol(fmt, payload, scale=3, pad=30))}
    assert got == {want}


def test_upca_from_pyzbar_and_zxing_is_one_symbol() -> None:
    from drivers.camera.symbology import canonical

    assert canonical("UPCA", "066721010995") == canonical("EAN13", "0066721010995")
    assert canonical("EAN13", "4006381333931") == ("EAN13", "4006381333931")


def test_tiny_images_are_upscaled_not_refused() -> None:
    import zxingcpp

    full = np.array(
        zxingcpp.create_barcode("00012345678905", zxingcpp.BarcodeFormat.ITF).to_image(scale=1), np.uint8
    )
    strip = np.ascontiguousarray(full[:4])  # 4 px tall, as the 256x4 ITF
    codes = FrameScanner(["ITF"]).scan(strip).codes
    assert [c.payload for c in codes] == ["00012345678905"]
    assert all(0 <= y <= 4 for _, y in codes[0].position)  # positions in the caller's pixels


def test_a_huge_image_is_downscaled_before_decoding() -> None:
    qr = _symbol("QRCode", "BAYGATE:JOB:v1;id=J1", scale=60, pad=600)
    big = np.full((6000, 6000), 255, np.uint8)
    big[: qr.shape[0], : qr.shape[1]] = qr
    (code,) = Decoder(["QRCode"]).decode(big)
    assert code.payload == "BAYGATE:JOB:v1;id=J1"
    assert max(x for x, _ in code.position) > 1000  # mapped back to full-size pixels


def classify_kind(payload: str) -> str:
    from drivers.camera.payload import classify

    return classify("QRCODE", payload).kind


@pytest.mark.parametrize("seed", range(3))
def test_a_labelled_qr_vin_wins_over_a_vin_shaped_datamatrix(scanner: FrameScanner, seed: int) -> None:
    # Issue 13: a QR reading 'VIN:…' lost to a DataMatrix part number. The decoy here is
    # itself a valid VIN (check digit and all): only the label tells them apart.
    scene = make_scene("vin_qr_vs_dm", "clean", seed, FULL)
    result = scanner.scan(scene.image)
    assert len(result.barcode_vins) == 2
    vin = result.best_vin()
    assert vin is not None and vin.value == scene.vin and vin.labelled and vin.symbology == "QRCODE"
