"""Convolution layers through the generator: the design rebuilt from the manifest computes
the convolution as the obvious loops over the trained (O, C, KH, KW) tensor say, for 2-D
and 1-D kernels, and a weight already in window order gives the same codes."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.design import Design
from jaynes_hw.generate.command import main
from jaynes_hw.quantize.layer import quantize_layer

NETWORK = """
name = "conv"
source = "conv.npz"
input_scale = 0.01

[[layer]]
weight = "conv1"
bias = "b1"
lanes = 3
relu = true
conv = {{ {conv} }}
{pool}
"""


def convolution_by_loops(weights, bias, shift, images, shape, kernel, stride, padding):
    """act(sat(rshift_round(sum + b))) per output position, channel-last, as loops; weights
    (O, C, KH, KW) integers; padding (top, left, bottom, right)."""
    height, width, channels = shape
    (kh, kw), (sy, sx), (top, left, bottom, right) = kernel, stride, padding
    out_h = (height + top + bottom - kh) // sy + 1
    out_w = (width + left + right - kw) // sx + 1
    results = []
    for image in images:
        pixels = image.reshape(height, width, channels)
        values = []
        for oy in range(out_h):
            for ox in range(out_w):
                for o in range(weights.shape[0]):
                    total = int(bias[o])
                    for c in range(channels):
                        for ky in range(kh):
                            for kx in range(kw):
                                iy, ix = oy * sy - top + ky, ox * sx - left + kx
                                if 0 <= iy < height and 0 <= ix < width:
                                    total += int(weights[o, c, ky, kx]) * int(pixels[iy, ix, c])
                    total = (total + (1 << shift >> 1)) >> shift
                    values.append(max(0, min(127, total)))
        results.append(values)
    return np.array(results, dtype=np.int64)


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "conv"),
    [
        ((6, 5, 2), (3, 3), (1, 1), (1, 1, 1, 1),
         "height = 6, width = 5, channels = 2, kernel = 3, padding = 1"),
        ((7, 7, 3), (2, 3), (2, 2), (0, 1, 0, 0),
         "height = 7, width = 7, channels = 3, kernel = [2, 3], stride = 2, "
         "padding = [0, 1, 0, 0]"),
        ((1, 12, 2), (1, 3), (1, 2), (0, 1, 0, 1),
         "height = 1, width = 12, channels = 2, kernel = [1, 3], stride = [1, 2], "
         "padding = [0, 1, 0, 1]"),
    ],
)  # fmt: skip
def test_a_generated_convolution_computes_the_loops(tmp_path, shape, kernel, stride, padding, conv):
    rng = np.random.default_rng(sum(shape))
    channels, out_channels = shape[2], 5
    weight = rng.normal(0, 0.3, (out_channels, channels, *kernel)).astype(np.float32)
    if shape[0] == 1:  # a 1-D convolution's (O, C, K) tensor
        weight = weight[:, :, 0, :]
    bias = rng.normal(0, 0.05, out_channels).astype(np.float32)
    np.savez(tmp_path / "conv.npz", conv1=weight, b1=bias)
    (tmp_path / "conv.toml").write_text(NETWORK.format(conv=conv, pool=""))
    out = tmp_path / "rtl"
    assert main(["--config", str(tmp_path / "conv.toml"), "--out", str(out)]) == 0
    design = Design.from_manifest(out / "conv.json")
    layer = design.layers[0]

    # the integer weights in the trained tensor's own order, quantized here independently
    quantized = quantize_layer("conv1", weight, "lognormal", 4)
    integers = signed_levels(quantized.codes, quantized.codebook)
    integers = integers.reshape(out_channels, channels, *kernel)
    images = design.random_inputs(rng, 3)
    expected = convolution_by_loops(
        integers, layer.bias, layer.shift, images, shape, kernel, stride, padding
    )
    np.testing.assert_array_equal(design.forward(images), expected)
    assert np.count_nonzero(expected) > expected.size // 10


def test_a_weight_in_window_order_gives_the_same_design(tmp_path):
    rng = np.random.default_rng(3)
    weight = rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32)
    flat = weight.transpose(0, 2, 3, 1).reshape(4, -1)
    conv = "height = 5, width = 5, channels = 2, kernel = 3"
    pool = 'pool = { kind = "average", size = 3 }'
    designs = []
    for name, tensor in (("tensor", weight), ("flat", flat)):
        folder = tmp_path / name
        folder.mkdir()
        np.savez(folder / "conv.npz", conv1=tensor, b1=np.zeros(4, np.float32))
        (folder / "conv.toml").write_text(NETWORK.format(conv=conv, pool=pool))
        assert main(["--config", str(folder / "conv.toml"), "--out", str(folder / "rtl")]) == 0
        designs.append(Design.from_manifest(folder / "rtl" / "conv.json"))
    np.testing.assert_array_equal(designs[0].layers[0].stored, designs[1].layers[0].stored)
    images = designs[0].random_inputs(rng, 4)
    assert designs[0].forward(images).shape == (4, 4)  # a global average pool: 1x1x4
    np.testing.assert_array_equal(designs[0].forward(images), designs[1].forward(images))
