"""Shared fixtures: synthetic weight populations with known parameters."""

from __future__ import annotations

import numpy as np
import pytest


def lognormal_weights(shape, mu: float, sigma: float, seed: int = 0) -> np.ndarray:
    """sign x LN(mu, sigma) weights, float32: ln|w| ~ N(mu, sigma)."""
    rng = np.random.default_rng(seed)
    magnitudes = np.exp(rng.normal(mu, sigma, size=shape))
    return (magnitudes * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def gaussian_weights(shape, std: float = 0.02, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * std).astype(np.float32)


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
