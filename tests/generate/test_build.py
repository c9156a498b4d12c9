"""Integer layers from a description: the default network computes the chained reference
in the Amaranth simulator, "auto" shifts saturate nothing, impossible weights are refused."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.reference import reference_layer
from jaynes_hw.generate import DEFAULT_CONFIG, build_layers, build_network, parse_config
from jaynes_hw.generate.command import main
from tests.helpers.amaranth_harness import receive, run, send
from tests.helpers.paths import DATA
from tests.helpers.quantized_files import chain_file


@pytest.mark.parametrize("core", ["lognormal", "int8"])
def test_default_network_matches_the_chained_reference(core):
    """The generator's network in the Amaranth simulator, on the calibration digits."""
    request = parse_config(DATA / DEFAULT_CONFIG)
    layers = build_layers(request, core)
    network = build_network(layers)
    x = np.load(DATA / "digits_calibration.npy")[:3].astype(np.int64)
    expected = x
    for layer in layers:
        weights = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        expected = reference_layer(
            layer.config.arithmetic(layer.shift), weights, expected, layer.bias
        )
    received = []

    async def producer(ctx):
        await send(ctx, network.x, x.reshape(-1))

    async def consumer(ctx):
        received.extend(await receive(ctx, network.y, expected.size))

    run(network, producer, consumer)
    np.testing.assert_array_equal(np.array(received).reshape(expected.shape), expected)
    assert len(set(expected.argmax(axis=1).tolist())) > 1  # not a degenerate network


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


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--core", "int8"], "levels within 127"),
        (["--per-channel"], "per channel"),
    ],
)
def test_bad_weights_exit_1(tmp_path, capsys, arguments, message):
    per_channel = "--per-channel" in arguments
    weights = chain_file(tmp_path, per_channel=per_channel)
    extra = [a for a in arguments if a != "--per-channel"]
    status = main(["--weights", str(weights), "--out", str(tmp_path / "o"), *extra])
    assert status == 1
    assert message in capsys.readouterr().err
