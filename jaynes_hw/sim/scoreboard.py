"""The scoreboard: the design's outputs against the reference, in order, bit for bit."""

from __future__ import annotations

import numpy as np


def check_outputs(name: str, got: np.ndarray, expected: np.ndarray) -> None:
    """Fail with the count and first mismatch unless ``got`` equals ``expected`` exactly.

    Both are (vectors, n_out) integer arrays, vector k of ``got`` being the k-th vector out.
    """
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: {got.shape} outputs, expected {expected.shape}")
    mismatches = np.argwhere(got != expected)
    if len(mismatches):
        v, o = mismatches[0]
        raise AssertionError(
            f"{name}: {len(mismatches)} mismatches; first at vector {v} output {o}: "
            f"hardware {got[v, o]}, reference {expected[v, o]}"
        )
