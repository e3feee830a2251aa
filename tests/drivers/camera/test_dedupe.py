from __future__ import annotations

from drivers.camera.dedupe import Deduper


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_report_per_presentation() -> None:
    clock = Clock()
    d = Deduper(10.0, clock)
    assert d.first_sighting("cam", "QRCODE", "A")
    for _ in range(50):  # held in view for 25 s at 2 sightings/s: still one presentation
        clock.t += 0.5
        assert not d.first_sighting("cam", "QRCODE", "A")
    assert d.first_sighting("cam2", "QRCODE", "A")  # another camera
    assert d.first_sighting("cam", "CODE128", "A")  # another symbology
    clock.t += 10.5  # gone longer than the window: a new presentation
    assert d.first_sighting("cam", "QRCODE", "A")


def test_a_new_presentation_counts_once_its_report_was_taken() -> None:
    clock = Clock()
    d = Deduper(10.0, clock)
    assert d.is_new("cam", "QRCODE", "A")
    clock.t += 0.5
    assert d.is_new("cam", "QRCODE", "A")  # not seen yet (its report was refused): new again
    d.seen("cam", "QRCODE", "A")
    for _ in range(30):  # then held in view: extended, not new
        clock.t += 0.5
        assert not d.is_new("cam", "QRCODE", "A")
    clock.t += 10.5
    assert d.is_new("cam", "QRCODE", "A")
