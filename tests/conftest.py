"""Shared fixtures: a small weight file with layers of known populations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.populations import gaussian_weights, lognormal_weights


@pytest.fixture
def small_model() -> dict[str, np.ndarray]:
    """A tiny 'model': two layers big enough to analyse, a bias, and an integer buffer."""
    return {
        "fc1.weight": gaussian_weights((128, 96), seed=1),
        "fc1.bias": gaussian_weights((128,), seed=2),
        "fc2.weight": lognormal_weights((96, 128), -3.0, 1.0, seed=3),
        "position_ids": np.arange(64, dtype=np.int64).reshape(1, 64),
    }


@pytest.fixture
def model_file(tmp_path, small_model):
    """``small_model`` saved as model.npz."""
    path = tmp_path / "model.npz"
    np.savez(path, **small_model)
    return path
