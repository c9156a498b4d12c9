"""The NF4 baselines: levels are NF4's, per tensor and per block of 64."""

from __future__ import annotations

import numpy as np

from jaynes_hw.quantize import reconstruction, sqnr_db
from jaynes_hw.quantize.baselines import NF4_LEVELS
from tests.helpers.populations import gaussian_weights


def test_nf4_baselines():
    weights = gaussian_weights((64, 128), seed=3)
    rebuilt = reconstruction(weights, "nf4", 4)
    scale = np.abs(weights).max()
    assert set(np.round(np.unique(rebuilt) / scale, 6)) <= set(np.round(NF4_LEVELS, 6))
    blocked = reconstruction(weights, "nf4-b64", 4)
    block = weights.reshape(-1)[:64]
    assert np.allclose(
        blocked.reshape(-1)[:64] / np.abs(block).max(),
        NF4_LEVELS[np.abs(block[:, None] / np.abs(block).max() - NF4_LEVELS).argmin(axis=1)],
    )
    assert sqnr_db(weights, blocked) > sqnr_db(weights, rebuilt)
