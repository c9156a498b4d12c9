"""Random layer cores and their numpy-reference expectations, shared by the Amaranth-simulator
tests and the Verilog testbenches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaynes_hw.contract.codebook import Codebook, signed_levels, weights_from_levels
from jaynes_hw.contract.geometry import ConvWindow, Pooling
from jaynes_hw.contract.layer_config import UNROLLED_DATAPATHS, LayerConfig
from jaynes_hw.contract.reference import reference_layer
from jaynes_hw.gateware.core import ConfiguredLayer, Int8LayerCore, LayerCore
from jaynes_hw.gateware.window import ConvLayer
from jaynes_hw.quantize import quantize_layer

SCHEME_BITS = {"lognormal": (2, 3, 4, 5), "pow2": (2, 3, 4), "lns": (3, 4), "int": (3, 4, 8)}


@dataclass
class LayerCase:
    """One layer: its config, stored contents and register values."""

    config: LayerConfig
    stored: np.ndarray  # codes (lognormal) or int8 weights
    codebook: Codebook | None
    shift: int
    bias: np.ndarray | None
    scales: np.ndarray | None = None

    def weights(self, codebook: Codebook | None = None) -> np.ndarray:
        """Signed integer weights (n_out, n_in) under ``codebook`` (default: the initial one)."""
        if self.config.kind == "int8":
            return self.stored.astype(np.int64)
        return signed_levels(self.stored, codebook or self.codebook)

    def expected(
        self,
        x: np.ndarray,
        codebook: Codebook | None = None,
        shift: int | None = None,
        stored: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        scales: np.ndarray | None = None,
    ) -> np.ndarray:
        """The numpy reference for input vectors ``x`` (batch, n_in), with overrides."""
        case = self if stored is None else LayerCase(self.config, stored, None, 0, None)
        weights = case.weights(codebook or self.codebook)
        spec = self.config.arithmetic(self.shift if shift is None else shift)
        bias = self.bias if bias is None else bias
        scales = self.scales if scales is None else scales
        return reference_layer(spec, weights, x, bias, scales)

    def random_inputs(self, rng: np.random.Generator, count: int) -> np.ndarray:
        half = 1 << (self.config.act_bits - 1)
        return rng.integers(-half, half, size=(count, self.config.n_in))


def random_codebook(rng, scheme: str, bits: int) -> Codebook:
    """A codebook the quantizer designs for a random lognormal layer."""
    weights = rng.lognormal(-3.0, rng.uniform(0.5, 1.5), size=(16, 64))
    weights *= rng.choice([-1.0, 1.0], size=weights.shape)
    return quantize_layer("random", weights, scheme, bits).codebook


def random_case(
    rng: np.random.Generator, kind: str | None = None, datapath: str | None = None
) -> LayerCase:
    """A random layer: shape, lanes, widths, bias, ReLU, scheme, datapath (lognormal: either,
    unless ``datapath`` is given), channel scales, codes and a useful shift."""
    kind = kind or str(rng.choice(["lognormal", "int8"], p=[0.75, 0.25]))
    n_in = int(rng.integers(1, 13))
    n_out = int(rng.integers(1, 10))
    lanes = int(rng.integers(1, n_out + 1))
    act_bits = int(rng.choice([4, 8, 8]))
    out_bits = int(rng.choice([4, 8, 12]))
    bias_bits = int(rng.choice([0, 0, 6, 16]))
    relu = bool(rng.integers(0, 2))
    scale_bits = int(rng.choice([0, 0, 0, 3, 8]))
    if datapath in UNROLLED_DATAPATHS:  # channel scales are a folded core's
        scale_bits = 0
    codebook = None
    if kind == "lognormal":
        scheme = str(rng.choice(list(SCHEME_BITS)))
        bits = int(rng.choice(SCHEME_BITS[scheme]))
        codebook = random_codebook(rng, scheme, bits)
        fmt = codebook.format
        config = LayerConfig(
            "lognormal",
            n_in,
            n_out,
            lanes,
            act_bits,
            out_bits,
            bits,
            fmt.mantissa_bits,
            fmt.exponent_bits,
            bias_bits,
            relu,
            datapath or str(rng.choice(["per_lane", "shared"])),
            scale_bits=scale_bits,
        )
        stored = rng.integers(0, 1 << bits, size=(n_out, n_in))
    else:
        config = LayerConfig(
            "int8", n_in, n_out, lanes, act_bits, out_bits, 8, bias_bits=bias_bits, relu=relu,
            scale_bits=scale_bits,
        )  # fmt: skip
        stored = rng.integers(-128, 128, size=(n_out, n_in))
    bias = None
    if bias_bits:
        half = 1 << (bias_bits - 1)
        bias = rng.integers(-half, half, size=n_out)
    scales = None
    if scale_bits:  # the extremes 0 and 2^scale_bits - 1 among them
        scales = rng.integers(0, 1 << scale_bits, size=n_out)
    case = LayerCase(config, stored, codebook, 0, bias, scales)
    case.shift = useful_shift(case, rng)
    return case


def useful_shift(case: LayerCase, rng: np.random.Generator) -> int:
    """A shift near the one that maps typical sums onto the output range (so outputs are
    neither all saturated nor all zero), jittered; sometimes 0 or max_shift."""
    config = case.config
    roll = rng.random()
    if roll < 0.1:
        return 0
    if roll < 0.15:
        return config.max_shift
    x = case.random_inputs(rng, 16)
    scales = 1 if case.scales is None else case.scales
    typical = np.abs(x @ case.weights().T * scales).mean() + 1.0
    shift = int(np.log2(typical)) - (config.out_bits - 2) + int(rng.integers(-1, 2))
    return int(np.clip(shift, 0, config.max_shift))


def build_core(case: LayerCase) -> LayerCore | Int8LayerCore:
    """The Amaranth core holding ``case`` at its reset values."""
    registers = {"shift": case.shift, "bias": case.bias, "scales": case.scales}
    if case.config.kind == "int8":
        return Int8LayerCore(case.config, case.stored, **registers)
    return LayerCore(case.config, case.stored, case.codebook, **registers)


def conv_case(window: ConvWindow, out_channels: int, lanes: int, seed: int, pool_kind=None):
    """A ``ConvLayer`` of ``window`` (random lognormal codes and codebook, bias, ReLU, 2x2
    ``pool_kind`` pooling if given) and its reference: images (batch, values_in) ->
    outputs (batch, values_out), the dense contract per position."""
    rng = np.random.default_rng(seed)
    codebook = random_codebook(rng, "lognormal", 4)
    config = LayerConfig(
        "lognormal", window.window_size, out_channels, lanes=lanes, bias_bits=10, relu=True,
        mantissa_bits=codebook.format.mantissa_bits,
        exponent_bits=codebook.format.exponent_bits,
    )  # fmt: skip
    codes = rng.integers(0, 16, size=(out_channels, window.window_size))
    bias = rng.integers(-512, 512, size=out_channels)
    weights = weights_from_levels(codes, 4, codebook.levels)
    largest = np.abs(weights).sum(axis=1).max() * 128
    shift = max(0, int(np.ceil(np.log2(largest / 4 / 127))))  # typical sums in range
    core = ConfiguredLayer(config, codes, codebook, shift, bias, window.positions)
    pooling = None
    if pool_kind is not None:
        pooling = Pooling(pool_kind, window.out_height, window.out_width, out_channels, 2, 2, 2, 2)

    def reference(images):
        fields = window.windows(images)
        outputs = reference_layer(config.arithmetic(shift), weights, fields, bias)
        outputs = outputs.reshape(len(images), -1)
        return outputs if pooling is None else pooling.apply(outputs)

    return ConvLayer(window, core, pooling), reference
