"""argparse argument types shared by every command: each rejects bad text with one line."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence


def _number(kind: type, text: str, valid, wanted: str):
    """``kind(text)`` if it converts and is ``valid``; otherwise argparse's one-line error."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"must be {wanted}, not {value:g}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(int, text, lambda value: value >= 1, "a positive integer")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(float, text, lambda value: 0.0 < value < math.inf, "a positive number")


def unit_fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    return _number(float, text, lambda value: 0.0 < value < 1.0, "a number in (0, 1)")


def comma_list(
    choices: Sequence[str] | None = None, what: str = "item"
) -> Callable[[str], tuple[str, ...]]:
    """A type for comma-separated names, each one of ``choices`` when they are given
    (``what`` names them in the error)."""

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"must name at least one {what}")
        if choices is not None:
            unknown = [item for item in items if item not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {unknown[0]!r}; expected some of {', '.join(choices)}"
                )
        return items

    return parse
