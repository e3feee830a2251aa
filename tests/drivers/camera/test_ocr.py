"""VIN OCR: real tesseract via tesserocr; independent passes must agree; negatives never read."""

from __future__ import annotations

from collections import Counter

import pytest

from drivers.camera.errors import OcrError
from drivers.camera.glyphs import GlyphReader, arbitrate
from drivers.camera.ocr import VinOcr, find_tessdata
from drivers.camera.quality import to_gray
from drivers.camera.scanner import FrameScanner, OcrVinVoter
from drivers.camera.vin import VinCheck
from drivers.camera.vinvote import vote_vins
from simulators.camera.fonts import HERSHEY
from simulators.camera.scenes import make_scene

SIZE = (1280, 720)


@pytest.fixture(scope="module")
def scanner() -> FrameScanner:
    return FrameScanner(ocr=VinOcr())


@pytest.mark.parametrize("seed", [1, 5])
def test_clean_vin_plate_reads_verified(scanner: FrameScanner, seed: int) -> None:
    scene = make_scene("vin_plate", "clean", seed, SIZE)
    vin = scanner.scan(scene.image, with_ocr=True).best_vin()
    assert vin is not None and vin.value == scene.vin and vin.source == "ocr" and vin.verified


@pytest.mark.parametrize("seed", range(6))
def test_near_miss_plates_never_give_a_vin(scanner: FrameScanner, seed: int) -> None:
    scene = make_scene("negative_vin", "clean", seed, SIZE)
    assert scanner.scan(scene.image, with_ocr=True).best_vin() is None, scene.text


@pytest.mark.parametrize("kind", ["stripes", "plain_text"])
def test_non_vin_scenes_give_no_vin(scanner: FrameScanner, kind: str) -> None:
    assert scanner.scan(make_scene(kind, "clean", 3, SIZE).image, with_ocr=True).best_vin() is None


def test_single_pass_is_not_enough() -> None:
    ocr = VinOcr()
    scene = make_scene("vin_plate", "clean", 1, SIZE)
    lines = ocr.read_lines(to_gray(scene.image), passes=1)
    assert all(n == 1 for votes in lines for n in votes.values())
    assert vote_vins(lines) == []  # whatever one pass read, it is never enough
    assert [v.value for v in vote_vins(ocr.read_lines(to_gray(scene.image)))] == [scene.vin]


def test_vote_rules() -> None:
    good = "1HGCM82633A004352"
    assert [v.value for v in vote_vins([Counter({good: 3})])] == [good]
    assert vote_vins([Counter({good: 2})]) == []  # too few passes
    rival = good[:5] + "3" + good[6:]  # a rival read in a check-digit-visible spot
    assert vote_vins([Counter({good: 3, rival: 3})]) == []  # no strict plurality
    assert [v.value for v in vote_vins([Counter({good: 4, rival: 1})])] == [good]
    blind = "1HGCM82633J004352"  # A->J: same transliteration value, check digit blind
    assert vote_vins([Counter({good: 6, blind: 1})]) == []
    assert vote_vins([Counter({"VEHCLEDENTFCATNN0": 7})]) == []  # words, not a VIN
    euro = "WVWZZZ1JZXW000001"
    assert vote_vins([Counter({euro: 3})]) == []  # unverified needs one more vote
    (v,) = vote_vins([Counter({euro: 4})])
    assert v.value == euro and not v.verified


def test_voter_needs_two_frames_and_withholds_ambiguity() -> None:
    a, b = VinCheck("1HGCM82633A004352", "verified"), VinCheck("WVWZZZ1JZXW000001", "unverified")
    voter = OcrVinVoter(min_frames=2, horizon=5)
    assert voter.feed([a]) is None
    assert voter.feed([]) is None
    assert voter.feed([a]) == a
    assert voter.feed([b]) == a
    assert voter.feed([b]) is None  # two confirmed values in the horizon: ambiguous


def test_missing_tessdata_is_a_clear_error() -> None:
    with pytest.raises(OcrError, match=r"eng\.traineddata"):
        find_tessdata("/nonexistent-tessdata", search_defaults=False)


class _Glyphs(GlyphReader):
    """A GlyphReader whose glyph reads are given (no image)."""

    def __init__(self, reads: str | list[str]) -> None:
        self.spans = [(i, i + 1) for i in range(len(reads))]
        self._reads = list(reads)

    def read(self, i: int) -> str:
        return self._reads[i]


def _word(text: str, alts: dict[int, str]) -> list[tuple[str, frozenset[str]]]:
    return [(c, frozenset(alts.get(i, ""))) for i, c in enumerate(text)]


def test_arbitrate_takes_a_line_alternative_only_when_the_glyph_alone_says_it() -> None:
    line = "LHGCM82633A004352"
    # The line read offered '1' for its 'L', and the glyph read alone is '1': taken.
    assert arbitrate(_word(line, {0: "1"}), _Glyphs("1HGCM82633A004352")) == "1HGCM82633A004352"
    # The glyph alone says '1' but the line read never weighed it: unchanged.
    assert arbitrate(_word(line, {0: "T"}), _Glyphs("1HGCM82633A004352")) == line
    # An empty glyph read, or an I/O/Q (read alone over all capitals), changes nothing.
    assert arbitrate(_word(line, {0: "1"}), _Glyphs(["", *"HGCM82633A004352"])) == line
    assert arbitrate(_word(line, {0: "1"}), _Glyphs("IHGCM82633A004352")) == line
    # Not one glyph per character: the glyph reads cannot be lined up, unchanged.
    assert arbitrate(_word(line, {0: "1"}), _Glyphs("1HGCM82633A00435")) == line


@pytest.mark.parametrize(
    ("degradation", "seed"),
    [("tilt", 1004), ("glare", 1007), ("noise", 1010)],  # 1FT..., 1FT..., 5YJ...
)
def test_hershey_leading_digit_plates_now_read(scanner: FrameScanner, degradation: str, seed: int) -> None:
    # Every line pass reads these leading '1'/'5' as 'L'/'S' (5-6 passes); before the
    # glyph arbitration the plates gave no VIN.
    scene = make_scene("vin_plate", degradation, seed, SIZE, font=HERSHEY)
    assert scene.vin is not None and scene.vin[0] in "15"
    lines = scanner.ocr.read_lines(to_gray(scene.image)) if scanner.ocr else []
    assert any(scene.vin in votes for votes in lines)
    vin = scanner.scan(scene.image, with_ocr=True).best_vin()
    assert vin is not None and vin.value == scene.vin and vin.verified


@pytest.mark.parametrize("seed", range(6))
def test_hershey_near_miss_plates_never_give_a_vin(scanner: FrameScanner, seed: int) -> None:
    scene = make_scene("negative_vin", "clean", seed, SIZE, font=HERSHEY)
    assert scanner.scan(scene.image, with_ocr=True).best_vin() is None, scene.text
