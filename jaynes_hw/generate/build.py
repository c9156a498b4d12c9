"""Integer layers from a network description: quantize (or load) each layer, choose its
output shift, convert its bias, and check that the layers chain.

``shift = "auto"`` is the smallest S that keeps every calibration vector's sums (bias
included, earlier layers run through the reference) inside the output range. Without
calibration data it is the data-free S = round(log2(median_o ||w_o||_2) + act_bits -
out_bits), which maps inputs whose RMS is a quarter of the input range onto outputs whose
RMS is a quarter of the output range. Either is only the shift register's reset value.

A real bias b becomes round(b / (weight_scale * input LSB)); layer k+1's input LSB is layer
k's output LSB, weight_scale * input LSB * 2^S (times an average pooling's ``scale``).

A layer with channel scales (``scale_bits`` B > 0) is quantized per channel: row o's real
weights are sign * level * codebook scale * s[o]. The hardware keeps c[o] = round(s[o] /
unit) with unit = max_o s[o] / (2^B - 1) (``quantize.layer.integer_channel_scales``; the
quantizer rounds the scales so before it chooses the codes), so the largest scale is
2^B - 1 and the layer's weight_scale (one level unit times one scale unit) is the
codebook's times ``unit``.

A convolution layer's weight is one position's dense layer over its receptive field, in the
window's order (kernel row, kernel column, channel): a ``(O, C, KH, KW)`` tensor (``(O, C,
K)`` for 1-D) is reordered so; a 2-D ``(O, KH*KW*C)`` one is taken as it is. Its calibration
inputs are the receptive fields of the calibration images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.geometry import Convolution, ConvWindow, PerInference, run_layer
from jaynes_hw.contract.layer_config import LayerConfig, check_core
from jaynes_hw.generate.config import GenerationPlan, LayerRequest, NetworkRequest
from jaynes_hw.quantize.archive import load_quantized
from jaynes_hw.quantize.layer import QuantizedLayer, integer_channel_scales, quantize_layer
from jaynes_hw.quantize.schemes import check_scheme
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import load_npy
from jaynes_hw.weights import iter_tensors


@dataclass
class BuiltLayer(PerInference):
    """One layer, ready for the gateware: config, stored words, registers, bookkeeping."""

    name: str
    config: LayerConfig
    stored: np.ndarray  # codes, or int8 weights
    quantized: QuantizedLayer
    shift: int
    bias: np.ndarray | None
    input_scale: float | None
    notes: list[str] = field(default_factory=list)
    convolution: Convolution | None = None
    scales: np.ndarray | None = None  # integer channel scales c[o] (with scale_bits)
    scale_unit: float = 1.0  # real value of one channel scale step

    @property
    def weight_scale(self) -> float:
        """Real value of one level unit at channel scale 1."""
        return self.quantized.codebook.weight_scale * self.scale_unit

    @property
    def output_scale(self) -> float | None:
        if self.input_scale is None:
            return None
        pooling = None if self.convolution is None else self.convolution.pooling
        pooled = 1.0 if pooling is None else pooling.scale
        return self.weight_scale * self.input_scale * 2.0**self.shift * pooled


def _hardware_scales(channel_scales: np.ndarray | None, n_out: int, bits: int):
    """(c, unit) of ``integer_channel_scales``; without channel scales, every c the largest
    (2^bits - 1), one step 1 / (2^bits - 1)."""
    if channel_scales is None:
        top = (1 << bits) - 1
        return np.full(n_out, top, dtype=np.int64), 1.0 / top
    return integer_channel_scales(channel_scales, bits)


def auto_shift(weights: np.ndarray, act_bits: int, out_bits: int, max_shift: int) -> int:
    """The data-free reset value of the output shift (see the module docstring)."""
    norms = np.sqrt((weights.astype(np.float64) ** 2).sum(axis=1))
    typical = float(np.median(norms))
    if typical <= 0:
        return 0
    return int(np.clip(round(math.log2(typical) + act_bits - out_bits), 0, max_shift))


def calibrated_shift(
    config: LayerConfig, weights: np.ndarray, bias: np.ndarray | None, inputs: np.ndarray
) -> int:
    """Smallest S with every calibration sum inside the output range after the shift."""
    sums = inputs.astype(np.int64) @ weights.T.astype(np.int64)
    if bias is not None:
        sums = sums + bias
    largest = int(np.abs(sums).max(initial=0))
    top = (1 << (config.out_bits - 1)) - 1
    shift = 0
    while shift < config.max_shift and (largest + (1 << shift >> 1)) >> shift > top:
        shift += 1
    return shift


def _calibration_inputs(request: NetworkRequest) -> np.ndarray | None:
    if request.calibration is None:
        return None
    inputs = load_npy(request.calibration)
    n_in, half = None, 1 << (request.act_bits - 1)
    if inputs.ndim == 2:
        n_in = inputs.shape[1]
    if n_in is None or inputs.dtype.kind not in "iu" or not len(inputs):
        raise UserError(f"{request.calibration}: needs a 2-D integer array (samples, n_in)")
    if inputs.min() < -half or inputs.max() >= half:
        raise UserError(f"{request.calibration}: inputs must be {request.act_bits}-bit signed")
    return inputs.astype(np.int64)


def _sources(request: NetworkRequest, weights_file: Path | None):
    """Float tensors by name (lazily) and quantized layers by name."""
    quantized: dict[str, QuantizedLayer] = {}
    tensors = {}
    if weights_file is not None:
        _, layers = load_quantized(weights_file)
        quantized = {layer.name: layer for layer in layers}
    if request.source is not None:
        tensors = {tensor.name: tensor for tensor in iter_tensors(request.source)}
    return quantized, tensors


def _scale_bits(request, layer: LayerRequest, per_channel_file: bool) -> int:
    """The layer's channel scale width: its own, else the network's, else 8 for a layer
    a file holds quantized per channel and 0 for the others."""
    bits = layer.scale_bits if layer.scale_bits is not None else request.scale_bits
    if bits is None:
        return 8 if per_channel_file else 0
    if per_channel_file and bits == 0:
        raise UserError(
            f"layer {layer.weight!r} was quantized per channel: it needs channel scales "
            "(scale_bits > 0), or quantize it without --per-channel"
        )
    return bits


def _quantized_layer(request, layer: LayerRequest, core: str, quantized, tensors):
    """The layer quantized (or as the quantized file holds it) and its scale_bits."""
    if quantized:
        if layer.weight not in quantized:
            raise UserError(
                f"layer {layer.weight!r} is not in the quantized file "
                f"(it has: {', '.join(quantized)})"
            )
        result = quantized[layer.weight]
        scale_bits = _scale_bits(request, layer, result.channel_scales is not None)
    else:
        weights = _float_tensor(tensors, layer.weight, request.source)
        scale_bits = _scale_bits(request, layer, False)
        per_channel = scale_bits > 0
        channels = {"per_channel": per_channel, "scale_bits": scale_bits}
        if core == "int8":
            result = quantize_layer(layer.weight, weights, "int", 8, **channels)
        else:
            scheme = check_scheme(layer.scheme or request.scheme)
            fmt = layer.levels or request.levels  # None: the scheme's default format
            bits = layer.bits or request.bits
            result = quantize_layer(layer.weight, weights, scheme, bits, format=fmt, **channels)
    if layer.window is not None:
        codes = window_order(result.codes, result.shape, layer.window)
        return replace(result, codes=codes), scale_bits
    if len(result.shape) != 2:
        raise UserError(f"layer {layer.weight!r} has shape {result.shape}; the cores are dense 2-D")
    return result, scale_bits


def window_order(matrix: np.ndarray, shape: tuple[int, ...], window: ConvWindow) -> np.ndarray:
    """A convolution weight's ``(O, rest)`` matrix view, of a tensor of ``shape``, with its
    columns in the window's order (kernel row, kernel column, channel)."""
    kernel = (window.kernel_y, window.kernel_x)
    out_channels = shape[0]
    if len(shape) == 4 and tuple(shape[1:]) == (window.channels, *kernel):
        tensor = matrix.reshape(out_channels, window.channels, *kernel)
        return tensor.transpose(0, 2, 3, 1).reshape(out_channels, -1)
    if len(shape) == 3 and window.kernel_y == 1 and tuple(shape[1:]) == (
        window.channels, window.kernel_x,
    ):  # fmt: skip
        return matrix.reshape(out_channels, *shape[1:]).transpose(0, 2, 1).reshape(out_channels, -1)
    if len(shape) == 2 and shape[1] == window.window_size:
        return matrix
    raise UserError(
        f"a weight of shape {list(shape)} does not fit a {window.kernel_y}x{window.kernel_x} "
        f"convolution of {window.channels} channels: expected (O, {window.channels}, "
        f"{window.kernel_y}, {window.kernel_x}) or (O, {window.window_size})"
    )


def _float_tensor(tensors, name: str, source) -> np.ndarray:
    if name not in tensors:
        raise UserError(f"{source}: no tensor named {name!r}")
    tensor = tensors[name]
    if tensor.skip_reason:
        raise UserError(f"{source}: tensor {name!r} cannot be used ({tensor.skip_reason})")
    return np.asarray(tensor.load(), dtype=np.float64)


def build_layers(
    request: NetworkRequest, core: str, weights_file: Path | None = None
) -> list[BuiltLayer]:
    """Quantize (or load) every layer, choose shifts, convert biases, check the chain."""
    check_core(core)
    if weights_file is None and request.source is None:
        raise UserError("the network names no source weights; pass --weights FILE")
    quantized, tensors = _sources(request, weights_file)
    calibration = _calibration_inputs(request)
    built: list[BuiltLayer] = []
    act_bits, input_scale = request.act_bits, request.input_scale
    for layer in request.layers:
        q, scale_bits = _quantized_layer(request, layer, core, quantized, tensors)
        n_out, n_in = q.codes.shape
        weights = signed_levels(q.codes, q.codebook)  # s * L[k], what the layer multiplies
        scales, scale_unit = None, 1.0
        if scale_bits:
            scales, scale_unit = _hardware_scales(q.channel_scales, n_out, scale_bits)
        scaled_weights = weights if scales is None else weights * scales[:, None]
        try:
            convolution = layer.convolution(n_out)
        except UserError as error:
            raise UserError(f"layer {layer.weight!r}: {error}") from None
        values_in = n_in if convolution is None else convolution.values_in
        if built and values_in != built[-1].values_out:
            raise UserError(
                f"layer {layer.weight!r} takes {values_in} values but {built[-1].name!r} "
                f"gives {built[-1].values_out}"
            )
        if built and convolution is not None and built[-1].convolution is not None:
            image = (convolution.window.height, convolution.window.width,
                     convolution.window.channels)  # fmt: skip
            given = built[-1].convolution.output_image(built[-1].config.n_out)
            if image != given:
                raise UserError(
                    f"layer {layer.weight!r} takes a {'x'.join(map(str, image))} image but "
                    f"{built[-1].name!r} gives {'x'.join(map(str, given))}"
                )
        if core == "int8":
            stored = weights
            if np.abs(stored).max(initial=0) > 127:
                raise UserError(
                    f"layer {layer.weight!r}: the int8 core needs levels within 127; "
                    "quantize with --scheme int --bits 8"
                )
            fmt_fields = {}
        else:
            stored = q.codes
            fmt = q.codebook.format
            fmt_fields = {
                "code_bits": q.codebook.bits,
                "mantissa_bits": fmt.mantissa_bits,
                "exponent_bits": fmt.exponent_bits,
            }
        bias_bits = layer.bias_bits
        try:
            if bias_bits is None and not layer.bias:
                bias_bits = 0
            elif bias_bits is None:
                # as wide as the sums themselves: any bias that can matter fits, retunes too
                bias_bits = _sum_bits(core, n_in, act_bits, scale_bits, fmt_fields)
            config = LayerConfig(
                core,
                n_in,
                n_out,
                lanes=min(layer.lanes, n_out),
                act_bits=act_bits,
                out_bits=layer.out_bits,
                bias_bits=bias_bits,
                relu=layer.relu,
                datapath="per_lane" if core == "int8" else layer.datapath or request.datapath,
                code_memory=layer.code_memory,
                scale_bits=scale_bits,
                **fmt_fields,
            )
        except UserError as error:
            raise UserError(f"layer {layer.weight!r}: {error}") from None
        if convolution is not None and config.unrolled:
            raise UserError(f"layer {layer.weight!r}: a convolution needs a folded datapath")
        bias = None
        if layer.bias:
            weight_scale = q.codebook.weight_scale * scale_unit
            bias = _integer_bias(layer, request, tensors, weight_scale, input_scale, config)
        shift = layer.shift
        fields = calibration
        if calibration is not None and convolution is not None:
            fields = convolution.window.windows(calibration)
        if shift is None and calibration is not None:
            shift = calibrated_shift(config, scaled_weights, bias, fields)
        elif shift is None:
            shift = auto_shift(scaled_weights, config.act_bits, config.out_bits, config.max_shift)
        elif not 0 <= shift <= config.max_shift:
            raise UserError(
                f"layer {layer.weight!r}: shift must be 0..{config.max_shift}, not {shift}"
            )
        if calibration is not None:
            arithmetic = config.arithmetic(shift)
            calibration = run_layer(arithmetic, weights, calibration, bias, convolution, scales)
        item = BuiltLayer(
            layer.weight, config, stored, q, shift, bias, input_scale, convolution=convolution,
            scales=scales, scale_unit=scale_unit,
        )  # fmt: skip
        if layer.lanes > n_out:
            item.notes.append(f"lanes reduced from {layer.lanes} to n_out = {n_out}")
        built.append(item)
        act_bits, input_scale = config.out_bits, item.output_scale
    return built


def _sum_bits(core: str, n_in: int, act_bits: int, scale_bits: int, fmt_fields: dict) -> int:
    """Accumulator width of the layer without bias (its scaled sums): the default bias
    width."""
    bare = LayerConfig(core, n_in, 1, act_bits=act_bits, scale_bits=scale_bits, **fmt_fields)
    return min(bare.accumulator_bits, 32)


def _integer_bias(layer, request, tensors, weight_scale, input_scale, config) -> np.ndarray:
    if request.source is None:
        raise UserError(f"layer {layer.weight!r} names a bias but the network has no source file")
    if input_scale is None:
        raise UserError(f"layer {layer.weight!r} has a bias: the network needs input_scale")
    real = _float_tensor(tensors, layer.bias, request.source).reshape(-1)
    if real.shape != (config.n_out,):
        raise UserError(f"bias {layer.bias!r} has {real.size} values, expected {config.n_out}")
    integer = np.rint(real / (weight_scale * input_scale)).astype(np.int64)
    limit = 1 << (config.bias_bits - 1)
    if np.any(integer < -limit) or np.any(integer >= limit):
        needed = int(np.abs(integer).max()).bit_length() + 1
        raise UserError(
            f"bias {layer.bias!r} needs {needed} bits; raise bias_bits (now {config.bias_bits})"
        )
    return integer


def build_plan(plan: GenerationPlan) -> list[BuiltLayer]:
    """``build_layers`` for a ``GenerationPlan``."""
    return build_layers(plan.request, plan.core, plan.weights_file)
