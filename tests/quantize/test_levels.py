"""Level design: Lloyd-Max converges to a stationary point; lognormal bin means are the
lognormal's conditional means."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaynes_hw.quantize.levels import WeightedMagnitudes, lloyd_max, lognormal_bin_means


def test_lloyd_max_reaches_a_stationary_point_better_than_its_seed():
    values = np.exp(np.random.default_rng(0).normal(0, 1, 20000))
    population = WeightedMagnitudes(np.sort(values), np.ones(values.size), values.max())
    seeds = lognormal_bin_means(0.0, 1.0, np.full(8, 1 / 8))
    levels = lloyd_max(population, seeds)
    assert population.squared_error(levels) < population.squared_error(seeds)
    # stationary: each level is the mean of the values nearest to it
    thresholds = (levels[1:] + levels[:-1]) / 2
    cell = np.searchsorted(thresholds, values)
    for k in range(8):
        assert levels[k] == pytest.approx(values[cell == k].mean(), rel=1e-6)


def test_lognormal_bin_means_match_monte_carlo():
    samples = np.sort(np.exp(np.random.default_rng(1).normal(-1.0, 0.7, 2_000_000)))
    fractions = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    edges = np.concatenate([[0], np.cumsum(fractions)]) * samples.size
    expected = [samples[int(a) : int(b)].mean() for a, b in itertools.pairwise(edges)]
    assert np.allclose(lognormal_bin_means(-1.0, 0.7, fractions), expected, rtol=5e-3)
