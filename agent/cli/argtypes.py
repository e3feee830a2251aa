"""Argument types for numeric flags: a negative or absurd value is a usage error (exit 2,
argparse's one line) instead of a hang, an instant return or a traceback later on."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["model_year", "number", "seconds"]


def number(low: float, high: float, *, low_open: bool = True) -> Callable[[str], float]:
    """A float in (low, high] (or [low, high] with low_open=False)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        too_low = value <= low if low_open else value < low
        if too_low or value > high or math.isnan(value):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"{text} is outside {bracket}{low:g}, {high:g}]")
        return value

    return parse


def seconds(high: float) -> Callable[[str], float]:
    """A duration or timeout: more than 0 and at most `high` seconds."""
    return number(0, high)


def model_year(text: str) -> int:
    """A model year VINs can carry (17-character VINs exist since 1981; 2100 is generous)."""
    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}") from None
    if not 1981 <= year <= 2100:
        raise argparse.ArgumentTypeError(f"{year} is outside 1981-2100")
    return year
