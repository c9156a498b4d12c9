"""Synthetic weight populations with known parameters."""

from __future__ import annotations

import numpy as np


def lognormal_weights(shape, mu: float, sigma: float, seed: int = 0) -> np.ndarray:
    """sign x LN(mu, sigma) weights, float32: ln|w| ~ N(mu, sigma)."""
    rng = np.random.default_rng(seed)
    magnitudes = np.exp(rng.normal(mu, sigma, size=shape))
    return (magnitudes * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def gaussian_weights(shape, std: float = 0.02, seed: int = 0) -> np.ndarray:
    """N(0, std) weights, float32."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * std).astype(np.float32)
