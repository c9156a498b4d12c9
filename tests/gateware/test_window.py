"""Convolution and pooling gateware in the Amaranth simulator, judged by the contract:
``WindowGenerator`` against ``ConvWindow.windows``, ``PoolReducer`` after a pooling window
against ``Pooling.apply``, and a whole ``ConvLayer`` (windows, folded core, pooling) against
the dense reference applied per position, under random stalls on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.geometry import ConvWindow, Pooling
from jaynes_hw.gateware.window import PoolReducer, WindowGenerator
from tests.helpers.amaranth_harness import receive, run, send
from tests.helpers.layer_cases import conv_case

WINDOWS = [
    ConvWindow(5, 6, 2, 3, 3),  # valid convolution
    ConvWindow(5, 4, 3, 3, 3, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1),  # "same"
    ConvWindow(7, 7, 1, 2, 3, stride_y=2, stride_x=3, pad_top=1, pad_right=2),  # strided
    ConvWindow(1, 9, 3, 1, 4, stride_x=2, pad_left=1),  # 1-D
    ConvWindow(8, 5, 1, 2, 2, stride_y=3, stride_x=3),  # stride above the kernel: rows skipped
]


def stream(dut, images: np.ndarray, count: int, seed: int, stall: float):
    rng = np.random.default_rng(seed)
    received = []

    async def producer(ctx):
        await send(ctx, dut.x, images.reshape(-1), rng, stall)

    async def consumer(ctx):
        received.extend(await receive(ctx, dut.y, count, rng, stall))

    run(dut, producer, consumer, deadline_cycles=400_000)
    return np.array(received, dtype=np.int64)


@pytest.mark.parametrize("window", WINDOWS, ids=lambda window: f"{window}"[10:40])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_window_generator_matches_the_reference(window, stall):
    rng = np.random.default_rng(window.values_in)
    images = rng.integers(-128, 128, size=(3, window.values_in))
    expected = window.windows(images).reshape(-1)
    received = stream(WindowGenerator(window, 8), images, expected.size, 7, stall)
    np.testing.assert_array_equal(received, expected)


def test_the_fast_window_reference_agrees_with_the_loops():
    rng = np.random.default_rng(1)
    for window in WINDOWS:
        images = rng.integers(-128, 128, size=(2, window.values_in))
        np.testing.assert_array_equal(window.windows(images), window.windows_slow(images))


@pytest.mark.parametrize(
    "pooling",
    [
        Pooling("max", 6, 6, 3, 2, 2, 2, 2),
        Pooling("average", 6, 6, 3, 2, 2, 2, 2),
        Pooling("average", 5, 7, 2, 3, 3, 2, 2),  # overlapping, 9 values: shift 4
        Pooling("max", 5, 5, 1, 3, 2, 1, 3),
        Pooling("average", 3, 3, 4, 3, 3, 3, 3),  # global average pool
    ],
    ids=str,
)
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pooling_matches_the_reference(pooling, stall):
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    class Chain(wiring.Component):
        def __init__(self):
            self.windows = WindowGenerator(pooling.window, 8, channels_outer=True)
            self.reducer = PoolReducer(pooling, 8)
            super().__init__({"x": self.windows.signature.members["x"],
                              "y": self.reducer.signature.members["y"]})  # fmt: skip

        def elaborate(self, platform):
            m = Module()
            m.submodules.windows, m.submodules.reducer = self.windows, self.reducer
            wiring.connect(m, wiring.flipped(self.x), self.windows.x)
            wiring.connect(m, self.windows.y, self.reducer.x)
            wiring.connect(m, self.reducer.y, wiring.flipped(self.y))
            return m

    rng = np.random.default_rng(pooling.values_in)
    images = rng.integers(-128, 128, size=(3, pooling.values_in))
    expected = pooling.apply(images)
    np.testing.assert_array_equal(expected, pooling.apply_slow(images))
    received = stream(Chain(), images, expected.size, 3, stall)
    np.testing.assert_array_equal(received, expected.reshape(-1))


@pytest.mark.parametrize(
    ("window", "out_channels", "lanes", "pool_kind"),
    [
        (ConvWindow(6, 6, 2, 3, 3, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1), 4, 2, "max"),
        (ConvWindow(6, 6, 1, 3, 3), 3, 3, "average"),
        (ConvWindow(1, 10, 2, 1, 3, stride_x=2), 5, 2, None),
    ],
)
def test_conv_layer_matches_the_dense_contract_per_position(window, out_channels, lanes, pool_kind):
    layer, reference = conv_case(window, out_channels, lanes, 5, pool_kind)
    rng = np.random.default_rng(9)
    images = rng.integers(-128, 128, size=(2, window.values_in))
    expected = reference(images)
    assert expected.shape[1] == layer.values_out
    assert np.any(expected > 0), "the case must exercise non-zero outputs"
    received = stream(layer, images, expected.size, 11, 0.3)
    np.testing.assert_array_equal(received, expected.reshape(-1))


def test_loading_overlaps_reading():
    """A 2x2 stride-2 window over an 8x8x8 image: 512 values in and 512 out per image. The
    rows of the next output row load while the current one is read, so back to back an
    image takes its 512 reads, the load of its first output row's 2 rows (128 values) and two
    cycles per output row (8), not the 1,024 of loading and reading in turns."""
    window = Pooling("max", 8, 8, 8, 2, 2, 2, 2).window
    images = np.random.default_rng(4).integers(-128, 128, size=(4, window.values_in))
    per_image = window.positions * window.window_size
    log: list[int] = []
    dut = WindowGenerator(window, 8, channels_outer=True)

    async def producer(ctx):
        await send(ctx, dut.x, images.reshape(-1))

    async def consumer(ctx):
        received = await receive(ctx, dut.y, images.shape[0] * per_image, log=log)
        fields = window.windows(images).reshape(-1, 4, window.channels)  # (ky, kx), channel
        np.testing.assert_array_equal(received, fields.transpose(0, 2, 1).reshape(-1))

    run(dut, producer, consumer)
    image_ends = np.array(log)[per_image - 1 :: per_image]
    periods = np.diff(image_ends)
    first_rows = window.kernel_y * window.width * window.channels
    assert (periods <= per_image + first_rows + 2 * window.out_height + 1).all(), periods
