"""Fits recover known parameters; the verdict tells Gaussian from lognormal layers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaynes_hw.analyze.fit import analyze_layer
from jaynes_hw.analyze.histogram import KEY_SHIFT, MagnitudeHistogram
from jaynes_hw.support.errors import UserError
from tests.helpers.populations import gaussian_weights, lognormal_weights


@pytest.mark.parametrize(("mu", "sigma"), [(-3.0, 0.66), (-3.0, 1.0), (-5.0, 1.5)])
def test_mle_recovers_lognormal_parameters_of_a_million_weights(mu, sigma):
    weights = lognormal_weights((1000, 1000), mu, sigma, seed=7)
    layer = analyze_layer("layer", weights)
    assert abs(layer.mle.mu_raw - mu) < 0.01
    assert abs(layer.mle.sigma - sigma) < 0.01
    assert layer.mle.mu == pytest.approx(mu - math.log(layer.max_abs), abs=0.01)


def test_binned_mle_equals_the_exact_mle():
    weights = lognormal_weights((300, 300), -2.0, 0.8, seed=3)
    logs = np.log(np.abs(weights.astype(np.float64)))
    layer = analyze_layer("layer", weights)
    assert layer.mle.mu_raw == pytest.approx(logs.mean(), abs=1e-4)
    assert layer.mle.sigma == pytest.approx(logs.std(), abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_verdicts_gaussian_and_lognormal(seed):
    assert analyze_layer("g", gaussian_weights((300, 300), seed=seed)).null.verdict == "gaussian"
    lognormal = lognormal_weights((300, 300), -3.0, 1.0, seed=seed)
    assert analyze_layer("l", lognormal).null.verdict == "lognormal"


def test_neither_for_a_uniform_layer():
    weights = np.random.default_rng(0).uniform(-1, 1, (300, 300)).astype(np.float32)
    assert analyze_layer("u", weights).null.verdict == "neither"


def test_student_t_wins_for_heavy_tailed_weights():
    rng = np.random.default_rng(5)
    weights = (rng.standard_t(3.0, size=(400, 400)) * 0.01).astype(np.float32)
    null = analyze_layer("t", weights).null
    assert null.best == "student_t"
    assert null.student_t_df == pytest.approx(3.0, rel=0.1)


def test_size_weighted_fit_of_a_lognormal_gives_mu_plus_sigma_squared():
    # A narrow lognormal well inside [0, 1] so the 100 bins resolve it.
    weights = lognormal_weights((600, 600), -1.0, 0.25, seed=11)
    layer = analyze_layer("layer", weights)
    fit = layer.size_weighted_fit
    assert fit.r2 > 0.99
    assert fit.sigma_prime == pytest.approx(layer.mle.sigma, abs=0.02)
    assert fit.mu_prime == pytest.approx(layer.mle.mu + layer.mle.sigma**2, abs=0.02)


def test_gaussian_weights_give_the_null_sigma_prime_near_064():
    fit = analyze_layer("g", gaussian_weights((1000, 1000), seed=4)).size_weighted_fit
    assert 0.60 < fit.sigma_prime < 0.68


def test_size_weighted_histogram_matches_an_exact_histogram():
    weights = lognormal_weights((400, 250), -1.5, 0.6, seed=2)
    layer = analyze_layer("layer", weights)
    magnitudes = np.abs(weights.astype(np.float64))
    counts, _ = np.histogram(magnitudes, bins=100, range=(0, magnitudes.max()))
    centres = (np.arange(100) + 0.5) / 100
    exact = centres * counts / (centres * counts).sum() / 0.01
    assert np.abs(np.asarray(layer.histogram["density"]) - exact).max() < 1e-3 * exact.max()


def test_nonfinite_and_zero_weights_are_counted_and_excluded():
    weights = lognormal_weights((200, 200), -3.0, 1.0, seed=1)
    clean = analyze_layer("clean", weights)
    weights.reshape(-1)[:10] = [np.nan, np.inf, -np.inf, np.nan, 0, 0, 0, -0.0, np.inf, 0]
    dirty = analyze_layer("dirty", weights)
    assert dirty.nonfinite == 5
    assert dirty.zeros == 5
    assert math.isfinite(dirty.max_abs)
    assert dirty.mle.mu == pytest.approx(clean.mle.mu, abs=1e-3)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.zeros((100, 100), np.float32), "all weights are zero"),
        (np.full((100, 100), 0.5, np.float32), "constant"),
        (np.full((100, 100), np.nan, np.float32), "no finite weights"),
        (np.zeros((0, 10), np.float32), "empty"),
    ],
)
def test_degenerate_layers_are_refused_with_a_reason(weights, message):
    with pytest.raises(UserError, match=message):
        analyze_layer("bad", weights)


def _slow_key(value: np.float32) -> int:
    bits = int(np.array(value, np.float32).view(np.uint32)) & 0x7FFFFFFF
    return bits >> KEY_SHIFT


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 300), elements=st.floats(width=32)))
def test_magnitude_histogram_counts_every_element_in_its_key(values):
    histogram = MagnitudeHistogram.of(values)
    expected = np.zeros_like(histogram.counts)
    for value in values:
        expected[_slow_key(value)] += 1
    assert np.array_equal(histogram.counts, expected)
    finite = np.abs(values[np.isfinite(values)])
    assert histogram.max_abs == (float(finite.max()) if finite.size else 0.0)
