"""The bit-exact reference: the fast path equals the obvious loops; the float model bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.reference import (
    LayerArithmetic,
    accumulator_width,
    float_error_bound,
    float_layer,
    reference_layer,
    reference_layer_slow,
    rshift_round,
)
from jaynes_hw.quantize import quantize_layer
from jaynes_hw.support.errors import UserError
from tests.helpers.populations import lognormal_weights


@st.composite
def layers(draw):
    n_in = draw(st.integers(1, 12))
    n_out = draw(st.integers(1, 6))
    act_bits = draw(st.integers(2, 12))
    level_bits = draw(st.integers(1, 24))
    bias_bits = draw(st.sampled_from([0, 4, 16, 24]))
    scale_bits = draw(st.sampled_from([0, 0, 1, 8, 16]))
    spec = LayerArithmetic(
        n_in,
        n_out,
        act_bits=act_bits,
        out_bits=draw(st.integers(2, 16)),
        shift=draw(st.integers(0, 30)),
        relu=draw(st.booleans()),
        bias_bits=bias_bits,
        max_level=(1 << level_bits) - 1,
        scale_bits=scale_bits,
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    extreme = draw(st.booleans())  # all-maximum weights and inputs: the worst accumulations
    scales = None
    if scale_bits:
        scales = rng.integers(0, 1 << scale_bits, n_out)
    if extreme:
        weights = np.full((n_out, n_in), spec.max_level) * draw(st.sampled_from([-1, 1]))
        x = np.full((3, n_in), -(1 << (act_bits - 1)))
        scales = None if scales is None else np.full(n_out, (1 << scale_bits) - 1)
    else:
        weights = rng.integers(-spec.max_level, spec.max_level + 1, (n_out, n_in))
        x = rng.integers(-(1 << (act_bits - 1)), 1 << (act_bits - 1), (3, n_in))
    bias = None
    if bias_bits:
        bias = rng.integers(-(1 << (bias_bits - 1)), 1 << (bias_bits - 1), n_out)
    return spec, weights, x, bias, scales


@settings(max_examples=300, deadline=None)
@given(layers())
def test_fast_reference_equals_the_obvious_loops(layer):
    spec, weights, x, bias, scales = layer
    assert np.array_equal(
        reference_layer(spec, weights, x, bias, scales),
        reference_layer_slow(spec, weights, x, bias, scales),
    )


def test_a_channel_scale_multiplies_its_outputs_sum_before_bias_and_rounding():
    spec = LayerArithmetic(2, 3, out_bits=16, shift=2, bias_bits=8, scale_bits=4, max_level=7)
    weights, x = np.array([[1, 2], [1, 2], [-3, 0]]), np.array([[5, -1]])  # sums 3, 3, -15
    bias, scales = np.array([1, 1, 0]), np.array([5, 0, 15])
    # (3 * 5 + 1 + 2) >> 2 = 4; (0 + 1 + 2) >> 2 = 0; (-225 + 2) >> 2 = -56 (floor)
    assert reference_layer(spec, weights, x, bias, scales).tolist() == [[4, 0, -56]]


def test_both_accumulation_paths_agree_beyond_float64_exactness():
    # 2^60-scale sums: the int64 path; exact against Python integers
    spec = LayerArithmetic(4, 2, act_bits=16, out_bits=32, shift=40, max_level=(1 << 40) - 1)
    assert spec.accumulator_width > 53
    weights = np.array([[spec.max_level, -3, 5, spec.max_level], [-spec.max_level, 7, 1, 2]])
    x = np.array([[-(1 << 15), 32767, -5, 12345]])
    assert np.array_equal(reference_layer(spec, weights, x), reference_layer_slow(spec, weights, x))


def test_accumulator_width_is_tight():
    # the worst case fits, and one bit less would not
    n_in, act_bits, max_level = 64, 8, 127
    width = accumulator_width(n_in, act_bits, max_level)
    worst = -n_in * max_level * (1 << (act_bits - 1))
    assert -(1 << (width - 1)) <= worst and abs(worst) <= (1 << (width - 1))
    assert worst < -(1 << (width - 2))


def test_rounding_is_half_up():
    values = np.array([-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6])
    assert list(rshift_round(values, 2)) == [-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2]


def test_saturation_and_relu():
    spec = LayerArithmetic(2, 1, act_bits=8, out_bits=8, shift=0, max_level=127)
    high = reference_layer(spec, np.array([[127, 127]]), np.array([[127, 127]]))
    low = reference_layer(spec, np.array([[127, 127]]), np.array([[-128, -128]]))
    assert high[0, 0] == 127 and low[0, 0] == -128
    relu = LayerArithmetic(2, 1, relu=True, max_level=127)
    assert reference_layer(relu, np.array([[127, 127]]), np.array([[-128, -128]]))[0, 0] == 0


def test_integer_layer_stays_within_the_float_models_bound():
    weights = lognormal_weights((32, 48), -3.0, 1.0, seed=5)
    layer = quantize_layer("w", weights, "lognormal", 4)
    integer_weights = signed_levels(layer.codes, layer.codebook)
    real_weights = weights / layer.codebook.weight_scale  # the unquantized weights, level units
    spec = LayerArithmetic(
        48, 32, act_bits=8, out_bits=16, shift=10, max_level=layer.codebook.format.max_level
    )
    x = np.random.default_rng(0).integers(-128, 128, (200, 48))
    level_error = float(np.abs(np.abs(real_weights) - np.abs(integer_weights)).max())
    difference = np.abs(
        reference_layer(spec, integer_weights, x) - float_layer(spec, real_weights, x)
    )
    bound = float_error_bound(spec, level_error, x)
    assert np.all(difference <= bound + 1e-9)
    assert difference.max() > 0  # the comparison is not vacuous


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_in": 0, "n_out": 1}, "n_in must be a positive integer"),
        ({"n_in": 2, "n_out": 1, "shift": 63}, "shift must be"),
        ({"n_in": 1 << 30, "n_out": 1, "max_level": (1 << 30)}, "accumulator would need"),
    ],
)
def test_bad_arithmetic_is_refused(kwargs, message):
    with pytest.raises(UserError, match=message):
        LayerArithmetic(**kwargs)


def test_operands_out_of_range_are_refused():
    spec = LayerArithmetic(2, 1, act_bits=4, max_level=7)
    with pytest.raises(UserError, match="4-bit signed"):
        reference_layer(spec, np.array([[1, 1]]), np.array([[8, 0]]))
    with pytest.raises(UserError, match="exceeds the largest level"):
        reference_layer(spec, np.array([[8, 1]]), np.array([[1, 0]]))
    with pytest.raises(UserError, match="no bias"):
        reference_layer(spec, np.array([[1, 1]]), np.array([[1, 0]]), np.array([3]))
    with pytest.raises(UserError, match="no channel scales"):
        reference_layer(spec, np.array([[1, 1]]), np.array([[1, 0]]), None, np.array([2]))
    scaled = LayerArithmetic(2, 1, act_bits=4, max_level=7, scale_bits=3)
    with pytest.raises(UserError, match="3-bit unsigned"):
        reference_layer(scaled, np.array([[1, 1]]), np.array([[1, 0]]), None, np.array([8]))
