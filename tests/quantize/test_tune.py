"""Fitting codebooks to a task with the codes frozen (``jaynes_hw.quantize.tune``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaynes_hw.contract.codebook import pack_codes
from jaynes_hw.contract.design import Design, DesignLayer
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.quantize.tune import (
    accuracy,
    cross_entropy,
    fit_codebooks,
    stand_in_loss,
    tunable_layers,
)
from jaynes_hw.support.errors import UserError


def _layer(rng, n_in, n_out, relu, shift, kind="lognormal") -> DesignLayer:
    config = LayerConfig(kind, n_in, n_out, lanes=1, bias_bits=20, relu=relu)
    bias = rng.integers(-2000, 2000, n_out)
    if kind == "int8":
        return DesignLayer(config, rng.integers(-128, 128, (n_out, n_in)), None, None, shift,
                          bias, 0)  # fmt: skip
    codes = pack_codes(rng.random((n_out, n_in)) < 0.5, rng.integers(0, 8, (n_out, n_in)), 4)
    mantissas = np.array([40, 50, 60, 36, 44, 52, 60, 63])
    exponents = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    return DesignLayer(config, codes, mantissas, exponents, shift, bias, 0)


def _network(rng, kinds=("lognormal", "lognormal")) -> Design:
    layers = [_layer(rng, 12, 9, True, 9, kinds[0]), _layer(rng, 9, 4, False, 8, kinds[1])]
    return Design("net", Path("net.v"), layers, {})


def _inputs(rng, count=300):
    return rng.integers(0, 128, (count, 12))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    design = _network(rng)
    tunables = tunable_layers(design)
    x = _inputs(rng).astype(np.float64)
    onehot = np.eye(4)[rng.integers(0, 4, len(x))]
    theta = np.concatenate([layer.levels for layer in design.layers]).astype(np.float64)
    theta += rng.uniform(0.1, 0.9, theta.size)  # off the integer grid
    _, gradient = stand_in_loss(theta, design, tunables, x, onehot, 0.05)
    step = 1e-3
    numeric = np.array([
        (stand_in_loss(theta + step * e, design, tunables, x, onehot, 0.05)[0]
         - stand_in_loss(theta - step * e, design, tunables, x, onehot, 0.05)[0]) / (2 * step)
        for e in np.eye(theta.size)
    ])  # fmt: skip
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(gradient, numeric, rtol=1e-3, atol=1e-7 * np.abs(numeric).max())


def test_the_stand_in_loss_tracks_the_bit_exact_one():
    """Without the rounding the stand-in is not exact, but close to the integer network."""
    rng = np.random.default_rng(1)
    design = _network(rng)
    x = _inputs(rng)
    labels = rng.integers(0, 4, len(x))
    theta = np.concatenate([layer.levels for layer in design.layers]).astype(np.float64)
    stand_in, _ = stand_in_loss(
        theta, design, tunable_layers(design), x.astype(np.float64), np.eye(4)[labels], 0.05
    )
    exact = cross_entropy(design.forward(x), labels, 0.05)
    assert stand_in == pytest.approx(exact, rel=0.05)


def test_fit_recovers_a_teachers_strengths_from_its_ranks():
    """Labels from a teacher network; the student has the teacher's codes but every level
    of a layer at one value. Fitting only the 16 levels brings back the teacher's answers."""
    rng = np.random.default_rng(2)
    teacher = _network(rng)
    x = _inputs(rng, 600)
    labels = np.argmax(teacher.forward(x), axis=1)
    student = teacher.copy()
    for layer in student.layers:
        layer.mantissas = np.full(8, 48)
        layer.exponents = np.full(8, 1)
    before = accuracy(student.forward(x), labels)
    result = fit_codebooks(student, x[:400], labels[:400], 0.05)
    after = accuracy(result.design.forward(x[400:]), labels[400:])
    assert result.loss_after < result.loss_before
    assert before < 0.8 and after >= 0.9, (before, after)
    for old, new in zip(student.layers, result.design.layers, strict=True):
        np.testing.assert_array_equal(old.stored, new.stored)  # codes frozen
        np.testing.assert_array_equal(old.bias, new.bias)
        assert old.shift == new.shift
        assert new.mantissas.max() <= 63 and new.exponents.max() <= 7
        assert not np.array_equal(old.levels, new.levels)


def test_int8_layers_stay_and_the_loss_is_the_exact_one():
    rng = np.random.default_rng(3)
    design = _network(rng, kinds=("int8", "lognormal"))
    x = _inputs(rng)
    labels = rng.integers(0, 4, len(x))
    result = fit_codebooks(design, x, labels, 0.05)
    np.testing.assert_array_equal(result.design.layers[0].weights(), design.layers[0].weights())
    assert result.loss_after == cross_entropy(result.design.forward(x), labels, 0.05)
    assert result.loss_before == cross_entropy(design.forward(x), labels, 0.05)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y, m: (x[:, :5], y, m), "(samples, 12) inputs"),
        (lambda x, y, m: (x, y[:-1], m), "one label each"),
        (lambda x, y, m: (x, y + 4, m), "labels must be output indices 0..3"),
        (lambda x, y, m: (x, y, _network(np.random.default_rng(0), ("int8", "int8"))),
         "no lognormal layer"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(change, message):
    rng = np.random.default_rng(4)
    x, labels, design = change(_inputs(rng, 20), rng.integers(0, 4, 20), _network(rng))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_codebooks(design, x, labels, 0.05)


def _conv_network(rng, pool_kind: str) -> Design:
    """conv 3x3 (padding 1) over 6x6x2, 4 channels, ReLU, 2x2 pooling -> dense 36 -> 4."""
    from jaynes_hw.contract.geometry import Convolution, ConvWindow, Pooling

    window = ConvWindow(6, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1)
    conv = _layer(rng, window.window_size, 4, True, 8)
    conv.convolution = Convolution(window, Pooling(pool_kind, 6, 6, 4, 2, 2, 2, 2))
    dense = _layer(rng, 36, 4, False, 8)
    return Design("cnn", Path("cnn.v"), [conv, dense], {})


@pytest.mark.parametrize("pool_kind", ["max", "average"])
def test_the_convolution_stand_in_has_exact_gradients_and_tracks_the_reference(pool_kind):
    rng = np.random.default_rng(5)
    design = _conv_network(rng, pool_kind)
    x = rng.integers(0, 128, (120, 72))
    labels = rng.integers(0, 4, len(x))
    onehot = np.eye(4)[labels]
    tunables = tunable_layers(design)
    theta = np.concatenate([layer.levels for layer in design.layers]).astype(np.float64)
    stand_in, _ = stand_in_loss(theta, design, tunables, x.astype(np.float64), onehot, 0.05)
    assert stand_in == pytest.approx(cross_entropy(design.forward(x), labels, 0.05), rel=0.05)
    theta += rng.uniform(0.1, 0.9, theta.size)  # off the integer grid: no ties in the maxima
    arguments = (design, tunables, x.astype(np.float64), onehot, 0.05)
    _, gradient = stand_in_loss(theta, *arguments)
    step = 1e-4
    numeric = np.array([
        (stand_in_loss(theta + step * e, *arguments)[0]
         - stand_in_loss(theta - step * e, *arguments)[0]) / (2 * step)
        for e in np.eye(theta.size)
    ])  # fmt: skip
    assert np.abs(gradient[:8]).max() > 0  # the convolution's levels matter
    np.testing.assert_allclose(gradient, numeric, rtol=1e-3, atol=1e-6 * np.abs(numeric).max())


def test_two_numbers_per_layer_recover_a_lognormal_teacher_from_the_erased_start():
    """The teacher's levels are the bin means of a lognormal (mu, sigma) per layer; the
    student starts with every level of a layer at one value. Fitting (mu, sigma) alone, 4
    numbers, brings back the teacher's answers."""
    from jaynes_hw.quantize.levels import lognormal_bin_means
    from jaynes_hw.quantize.tune import bin_fractions, fit_lognormal

    rng = np.random.default_rng(3)
    teacher = _network(rng)
    for layer, (mu, sigma) in zip(teacher.layers, [(3.6, 0.5), (3.2, 0.7)], strict=True):
        levels = lognormal_bin_means(mu, sigma, bin_fractions(layer))
        layer.mantissas, layer.exponents = layer.config.level_format.encode(levels)
    x = _inputs(rng, 600)
    labels = np.argmax(teacher.forward(x), axis=1)
    student = teacher.copy()
    for layer in student.layers:
        layer.mantissas, layer.exponents = np.full(8, 48), np.full(8, 1)
    before = accuracy(student.forward(x[400:]), labels[400:])
    result = fit_lognormal(student, x[:400], labels[:400], 0.05)
    after = accuracy(result.design.forward(x[400:]), labels[400:])
    assert result.loss_after < result.loss_before
    assert before < 0.8 and after >= 0.9, (before, after)
    for old, new in zip(student.layers, result.design.layers, strict=True):
        np.testing.assert_array_equal(old.stored, new.stored)
        assert np.all(np.diff(new.levels) >= 0)  # bin means of one lognormal: in rank order
