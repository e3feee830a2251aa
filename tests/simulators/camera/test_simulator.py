"""The camera simulator as a product: deterministic scenes, labelled sets, CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from simulators.camera.cli import main
from simulators.camera.errors import SimulatorError
from simulators.camera.fonts import HERSHEY, PLATE_FONTS
from simulators.camera.scenes import DEGRADATIONS, KINDS, make_scene
from simulators.camera.stream import SceneStream
from simulators.camera.vins import VIN_ALPHABET, check_digit, near_miss_vins, random_vin


def test_scenes_are_deterministic_and_distinct() -> None:
    a = make_scene("qrcode", "noise", 1, (320, 240))
    b = make_scene("qrcode", "noise", 1, (320, 240))
    c = make_scene("qrcode", "noise", 2, (320, 240))
    assert np.array_equal(a.image, b.image) and not np.array_equal(a.image, c.image)
    assert a.image.shape == (240, 320, 3) and a.image.dtype == np.uint8


def test_every_kind_and_degradation_renders() -> None:
    for kind in KINDS:
        for deg in DEGRADATIONS[:2]:
            s = make_scene(kind, deg, 0, (320, 240))
            assert s.image.shape == (240, 320, 3)
            with_vin = kind in ("vin_plate", "door_jamb", "datamatrix", "vin_qr_vs_dm")
            with_vin |= kind.startswith("plate_") and not kind.endswith("_neg")
            assert (s.vin is not None) == with_vin, kind


def test_unknown_kind_or_degradation() -> None:
    with pytest.raises(SimulatorError):
        make_scene("hologram", "clean", 0)
    with pytest.raises(SimulatorError):
        make_scene("qrcode", "fog", 0)


def test_simulator_vins_are_valid_and_near_misses_are_not() -> None:
    rng = random.Random(3)
    for _ in range(50):
        vin = random_vin(rng)
        assert len(vin) == 17 and set(vin) <= set(VIN_ALPHABET) and check_digit(vin) == vin[8]
        misses = near_miss_vins(vin)
        assert check_digit(misses["wrong_check_digit"]) != misses["wrong_check_digit"][8]
        assert "O" in misses["contains_o"] and len(misses["sixteen_chars"]) == 16


def test_stream_limit_and_truth() -> None:
    stream = SceneStream([("qrcode", "clean"), ("code128", "clean")], (160, 120), hold=2, limit=5)
    frames = list(stream)
    assert len(frames) == 5 and [s.kind for s in stream.shown] == ["qrcode", "code128", "qrcode"]


def test_cli_writes_labelled_set(tmp_path: Path) -> None:
    out = tmp_path / "set"
    rc = main(
        ["--out", str(out), "--kinds", "qrcode,vin_plate", "--degradations", "clean", "--size", "320x240"]
    )
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    files = {e["file"] for e in manifest["scenes"]}
    assert files == {p.name for p in out.glob("*.png")} and len(files) == 2
    vin_entry = next(e for e in manifest["scenes"] if e["kind"] == "vin_plate")
    assert check_digit(vin_entry["vin"]) == vin_entry["vin"][8]


def test_cli_usage_errors() -> None:
    with pytest.raises(SystemExit):
        main([])
    with pytest.raises(SystemExit):
        main(["--out", "/tmp/x", "--kinds", "nope"])


def test_vin_plate_font_is_drawn_per_scene_and_can_be_forced() -> None:
    faces = {make_scene("vin_plate", "clean", seed, (320, 240)).font for seed in range(12)}
    assert faces <= set(PLATE_FONTS) and len(faces) >= 2  # realistic faces, varied
    hard = make_scene("vin_plate", "clean", 3, (320, 240), font=HERSHEY)
    soft = make_scene("vin_plate", "clean", 3, (320, 240))
    # The same seed gives the same VIN whatever the face: the two subsets compare directly.
    assert hard.font == HERSHEY and hard.vin == soft.vin and hard.manifest()["font"] == HERSHEY
    assert not np.array_equal(hard.image, soft.image)
    assert make_scene("qrcode", "clean", 3, (320, 240)).font is None


def test_unknown_font_is_a_simulator_error() -> None:
    with pytest.raises(SimulatorError, match="font"):
        make_scene("vin_plate", "clean", 0, font="comic")


def test_plate_styles_levels_and_fonts() -> None:
    from simulators.camera.fonts import WORLD_FONTS, font_package
    from simulators.camera.plates import LEVELS, STYLES
    from simulators.camera.scenes import make_plate

    assert len(STYLES) == 5 and len(WORLD_FONTS) >= 10
    assert len({font_package(f) for f in WORLD_FONTS}) >= 4  # from several Debian packages
    for style in STYLES:
        for level in LEVELS:
            s = make_plate(style, level, 3)
            assert s.image.shape == (720, 1280, 3) and s.vin is not None and s.font in WORLD_FONTS
            neg = make_plate(style, level, 3, negative=True)
            assert neg.vin is None and neg.text != s.vin
    # Deterministic: same arguments, same pixels.
    assert (make_plate("windshield", "heavy", 9).image == make_plate("windshield", "heavy", 9).image).all()
    part = make_plate("part_label", "clean", 1)
    assert part.vin is None and part.text is not None and " SN" in part.text


def test_windshield_plates_are_light_on_dark() -> None:
    from simulators.camera.scenes import make_plate

    s = make_plate("windshield", "clean", 4)
    gray = s.image.mean(axis=2)
    h, w = gray.shape
    centre = gray[h // 2 - 20 : h // 2 + 20, w // 2 - 150 : w // 2 + 150]
    # The plate is dark; its text is the bright minority.
    assert np.median(centre) < 60 and np.percentile(centre, 97) > 100


def test_a_long_running_stream_keeps_a_bounded_truth() -> None:
    # A live `sim:` camera runs for days: the truth it keeps must not grow with it.
    stream = SceneStream([("qrcode", "clean")], (320, 240), hold=1, limit=30, keep=8)
    assert sum(1 for _ in stream) == 30
    assert len(stream.shown) == 8
