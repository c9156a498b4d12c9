"""One layer quantized: the scheme ordering, codes at the nearest hardware level, pruning,
per-channel scales, retune and refit, and bad layers."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.codebook import signed_levels, unpack_codes
from jaynes_hw.quantize import (
    quantize_layer,
    reconstruction,
    refit,
    retune,
    sqnr_db,
)
from jaynes_hw.support.errors import UserError
from tests.helpers.populations import lognormal_weights


@pytest.mark.parametrize("sigma", [0.66, 1.0, 1.5])
def test_lognormal_beats_nf4_by_1db_and_int4_by_3db(sigma):
    weights = lognormal_weights((1000, 1000), -3.0, sigma, seed=2)
    lognormal = sqnr_db(weights, reconstruction(weights, "lognormal", 4))
    assert lognormal >= sqnr_db(weights, reconstruction(weights, "nf4", 4)) + 1.0
    assert lognormal >= sqnr_db(weights, reconstruction(weights, "int", 4)) + 3.0


@pytest.mark.parametrize("scheme", ["lognormal", "pow2", "lns", "int"])
@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_codes_are_nearest_hardware_levels(scheme, bits):
    weights = lognormal_weights((64, 80), -2.0, 0.9, seed=bits)
    layer = quantize_layer("w", weights, scheme, bits)
    assert layer.codes.dtype == np.uint8 and layer.codes.shape == (64, 80)
    assert int(layer.codes.max()) < 1 << bits
    negative, bins = unpack_codes(layer.codes, bits)
    assert np.array_equal(negative, weights < 0)
    real = layer.codebook.real_levels
    distances = np.abs(np.abs(weights)[..., None] - real)  # to every level
    chosen = np.take_along_axis(distances, bins[..., None], axis=-1)[..., 0]
    assert np.all(chosen <= distances.min(axis=-1) + 1e-12)
    assert np.array_equal(
        signed_levels(layer.codes, layer.codebook) * layer.codebook.weight_scale, layer.dequantize()
    )


def test_pow2_levels_are_powers_of_two_and_int_levels_uniform():
    weights = lognormal_weights((100, 100), -3.0, 1.0)
    pow2 = quantize_layer("w", weights, "pow2", 4).codebook
    assert np.all(pow2.mantissas == 1)
    assert np.array_equal(pow2.levels, 2 ** np.arange(8))
    uniform = quantize_layer("w", weights, "int", 4).codebook
    assert np.array_equal(uniform.levels, np.arange(8))
    assert uniform.weight_scale == pytest.approx(np.abs(weights).max() / 7)


def test_pruned_bin_zero_is_no_connection():
    weights = lognormal_weights((100, 100), -3.0, 1.0)
    weights[:, :10] = 0.0
    layer = quantize_layer("w", weights, "lognormal", 4, pruned=True)
    assert layer.codebook.levels[0] == 0
    _, bins = unpack_codes(layer.codes, 4)
    assert np.all(bins[:, :10] == 0)


def test_per_channel_scales_pay_when_rows_differ_in_scale():
    rows = np.exp(np.random.default_rng(4).normal(0, 1.0, (200, 1)))
    weights = lognormal_weights((200, 300), -3.0, 0.6) * rows.astype(np.float32)
    plain = sqnr_db(weights, reconstruction(weights, "lognormal", 4))
    per_channel = sqnr_db(weights, reconstruction(weights, "lognormal", 4, per_channel=True))
    assert per_channel > plain + 1.0


def test_retune_restores_the_error_after_the_population_moves():
    rng = np.random.default_rng(8)
    z = rng.standard_normal((400, 400))
    signs = rng.choice([-1.0, 1.0], size=z.shape)
    before = signs * np.exp(-3.0 + 0.8 * z)
    layer = quantize_layer("w", before, "lognormal", 4)
    baseline = sqnr_db(before, layer.dequantize())
    # the same connections (same ranks), new strengths: mu and sigma move
    after = signs * np.exp(-2.5 + 1.1 * z)
    stale = sqnr_db(after, layer.dequantize())
    mu, sigma = refit(layer, after)
    tuned = retune(layer, mu=mu, sigma=sigma)
    assert np.array_equal(tuned.codes, layer.codes)
    restored = sqnr_db(after, tuned.dequantize())
    # the best any codebook can do with these codes: each bin at the mean of its members
    _, bins = unpack_codes(layer.codes, 4)
    best_levels = np.array([np.abs(after)[bins == k].mean() for k in range(8)])
    best_for_codes = sqnr_db(after, retune(layer, levels=best_levels).dequantize())
    requantized = sqnr_db(after, quantize_layer("w", after, "lognormal", 4).dequantize())
    assert stale < baseline - 10.0
    assert restored > stale + 10.0
    assert restored > best_for_codes - 0.3
    assert restored > requantized - 1.5


def test_retune_with_explicit_levels_and_bad_levels():
    layer = quantize_layer("w", lognormal_weights((50, 50), -3, 1), "lognormal", 3)
    new = retune(layer, levels=[0.01, 0.02, 0.04, 0.08])
    assert np.allclose(new.codebook.real_levels, [0.01, 0.02, 0.04, 0.08], rtol=1 / 64)
    with pytest.raises(UserError, match="takes 4 levels"):
        retune(layer, levels=[0.1, 0.2])
    with pytest.raises(UserError, match="non-negative"):
        retune(layer, levels=[-1.0, 0.1, 0.2, 0.3])
    with pytest.raises(UserError, match="either mu and sigma, or levels"):
        retune(layer)


@pytest.mark.parametrize(
    ("weights", "bits", "message"),
    [
        (np.ones((10, 10)), 1, "bits must be an integer from 2 to 8"),
        (np.ones((10, 10)), 9, "bits must be an integer from 2 to 8"),
        (np.zeros((10, 10)), 4, "all weights are zero"),
        (np.full((10, 10), np.nan), 4, "non-finite"),
        (np.zeros((0, 10)), 4, "empty"),
    ],
)
def test_bad_layers_and_bits(weights, bits, message):
    with pytest.raises(UserError, match=message):
        quantize_layer("w", weights, "lognormal", bits)


def test_per_channel_scales_survive_a_dead_row_and_an_all_zero_row():
    """A neuron whose weights decayed to ~1e-9 but for two real ones, and a row of zeros:
    the other rows' scales must not be blown up by them (a geometric-mean scale was, and
    fell to 0 dB on the digits CNN's second convolution)."""
    rng = np.random.default_rng(3)
    weights = lognormal_weights((16, 72), -2.0, 0.8)
    weights[3] = rng.normal(0, 1e-9, 72)
    weights[3, :2] = [0.3, -0.2]
    weights[7] = 0.0
    plain = sqnr_db(weights, reconstruction(weights, "lognormal", 4))
    layer = quantize_layer("dead", weights, "lognormal", 4, per_channel=True)
    assert np.all(np.isfinite(layer.channel_scales)) and layer.channel_scales[7] == 1.0
    assert sqnr_db(weights, layer.dequantize()) > plain - 0.5
