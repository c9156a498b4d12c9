"""Integer layers from a description: the default network computes the chained reference
in the Amaranth simulator, "auto" shifts saturate nothing, impossible weights are refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.reference import reference_layer
from jaynes_hw.generate import DEFAULT_CONFIG, build_layers, build_network, parse_config
from jaynes_hw.generate.command import main
from jaynes_hw.generate.config import LayerRequest, NetworkRequest
from jaynes_hw.support.errors import UserError
from tests.helpers.amaranth_harness import receive, run, send
from tests.helpers.paths import DATA
from tests.helpers.quantized_files import chain_file


@pytest.mark.parametrize("core", ["lognormal", "int8"])
def test_default_network_matches_the_chained_reference(core):
    """The generator's network in the Amaranth simulator, on the calibration digits."""
    layers = build_layers(parse_config(DATA / DEFAULT_CONFIG), core)
    x = np.load(DATA / "digits_calibration.npy")[:3].astype(np.int64)
    expected = assert_network_matches_the_chained_reference(layers, x)
    assert len(set(expected.argmax(axis=1).tolist())) > 1  # not a degenerate network


def assert_network_matches_the_chained_reference(layers, x):
    """Stream ``x`` through the built layers' network in the Amaranth simulator and
    compare every output with the layers' reference, chained; returns the outputs."""
    expected = x
    for layer in layers:
        weights = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        arithmetic = layer.config.arithmetic(layer.shift)
        expected = reference_layer(arithmetic, weights, expected, layer.bias, layer.scales)
    network = build_network(layers)
    received = []

    async def producer(ctx):
        await send(ctx, network.x, x.reshape(-1))

    async def consumer(ctx):
        received.extend(await receive(ctx, network.y, expected.size))

    run(network, producer, consumer)
    np.testing.assert_array_equal(np.array(received).reshape(expected.shape), expected)
    return expected


def test_auto_shift_saturates_nothing_on_the_calibration_set():
    request = parse_config(DATA / DEFAULT_CONFIG)
    x = np.load(DATA / "digits_calibration.npy").astype(np.int64)
    for layer in build_layers(request, "lognormal"):
        weights = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        out = reference_layer(layer.config.arithmetic(layer.shift), weights, x, layer.bias)
        narrower = reference_layer(layer.config.arithmetic(layer.shift - 1), weights, x, layer.bias)
        top = (1 << (layer.config.out_bits - 1)) - 1
        assert np.abs(out).max() <= top and (np.abs(narrower) >= top).any()
        x = out


def test_bad_weights_exit_1(tmp_path, capsys):
    weights = chain_file(tmp_path)
    status = main(["--weights", str(weights), "--out", str(tmp_path / "o"), "--core", "int8"])
    assert status == 1
    assert "levels within 127" in capsys.readouterr().err


@pytest.mark.parametrize("core", ["lognormal", "int8"])
def test_channel_scales_reach_the_hardware_and_the_float_weights(core):
    """A network quantized per channel (scale_bits): the cores in the Amaranth simulator
    compute the chained reference with the integer channel scales, and those scales make
    the integer weights closer to the float ones than one scale per layer does."""
    plain = parse_config(DATA / DEFAULT_CONFIG)
    request = replace(plain, scale_bits=6)
    layers = build_layers(request, core)
    for layer in layers:
        assert layer.config.scale_bits == 6 and layer.scales.max() == 63
    x = np.load(DATA / "digits_calibration.npy")[:2].astype(np.int64)
    assert_network_matches_the_chained_reference(layers, x)
    float_weights = np.load(DATA / "digits_mlp.npz")
    for scaled, unscaled in zip(layers, build_layers(plain, core), strict=True):
        real = float_weights[scaled.name]
        errors = []
        for layer in (scaled, unscaled):
            levels = signed_levels(layer.quantized.codes, layer.quantized.codebook)
            rows = 1 if layer.scales is None else layer.scales[:, None]
            errors.append(np.mean((levels * rows * layer.weight_scale - real) ** 2))
        assert errors[0] < errors[1], (scaled.name, errors)


def test_a_per_channel_file_needs_channel_scales(tmp_path):
    weights = chain_file(tmp_path, per_channel=True)
    layers = (LayerRequest("a", relu=True), LayerRequest("b"))
    built = build_layers(NetworkRequest("chain", layers), "lognormal", weights)
    assert built[0].config.scale_bits == 8 and built[1].config.scale_bits == 0
    refused = NetworkRequest("chain", layers, scale_bits=0)
    with pytest.raises(UserError, match="quantized per channel: it needs channel scales"):
        build_layers(refused, "lognormal", weights)
