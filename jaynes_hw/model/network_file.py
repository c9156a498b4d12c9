"""Writing an imported model as a network description the generator reads: ``NAME.toml``
(the TOML of ``generate.config``, every key visible and editable) beside ``NAME.npz`` (the
float weights and biases it names) and, with calibration inputs, ``NAME.calibration.npy``.

Calibration inputs are the model's float inputs, in its own layout; they set the hardware's
input scale (one LSB = max |x| / (2^(act_bits - 1) - 1)) and, rounded to that scale and put
in the hardware's order (images channel-last, ``ImportedModel.hardware_inputs``), the
integer inputs that choose each layer's output shift. Without them the input scale assumes
inputs in [-1, 1], and the TOML says so.

A convolution's weight is written as ONNX holds it, (O, C, KH, KW), beside its ``conv`` (and
``pool``) table and ``scale_bits = 8``: its output channels (filters, BatchNorm folded in)
differ in scale, so it is quantized per channel and the core keeps an 8-bit scale register
per channel. A dense layer after a flattened image has its columns in the hardware's
channel-last order.
"""

from __future__ import annotations

import json  # a JSON string is a valid TOML basic string
from pathlib import Path

import numpy as np

from jaynes_hw.contract.layer_config import DEFAULT_LANES
from jaynes_hw.model.onnx_import import ImportedModel
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import save_npy, save_npz, write_text

CONVOLUTION_SCALE_BITS = 8  # channel scale registers of an imported convolution


def network_toml(
    model: ImportedModel,
    source: str,
    calibration: str | None = None,
    input_scale: float | None = None,
    bits: int = 4,
    act_bits: int = 8,
) -> str:
    """The TOML text of the network description."""
    lines = [
        f"# imported by `jaynes-hw import` from {model.name}.onnx: {model.shape_text}",
        f"name = {json.dumps(model.name)}",
        f"source = {json.dumps(source)}",
        'core = "lognormal"',
        'scheme = "lognormal"',
        f"bits = {bits}",
        f"act_bits = {act_bits}",
    ]
    if input_scale is None:
        top = (1 << (act_bits - 1)) - 1
        lines.append(
            f"input_scale = {1 / top!r}  # one input LSB; assumed: inputs in [-1, 1] "
            "(import --inputs sets it from data)"
        )
    else:
        lines.append(f"input_scale = {input_scale!r}  # one input LSB: max |calibration| / 127")
    if calibration is not None:
        lines.append(f"calibration = {json.dumps(calibration)}")
    for index, layer in enumerate(model.layers):
        lines += [
            "",
            f"[[layer]]  # from {', '.join(layer.nodes)}",
            f'weight = "layer{index}.weight"',
            f'bias = "layer{index}.bias"',
            f"lanes = {min(DEFAULT_LANES, layer.n_out)}",
            f"relu = {'true' if layer.relu else 'false'}",
            'shift = "auto"',
        ]
        if layer.window is not None:
            lines += _convolution_lines(layer)
            lines.append(
                f"scale_bits = {CONVOLUTION_SCALE_BITS}  # a scale register per output "
                "channel (0: one scale for the layer)"
            )
    return "\n".join(lines) + "\n"


def _convolution_lines(layer) -> list[str]:
    """The ``conv`` and ``pool`` tables of a convolution layer."""
    w = layer.window
    lines = [
        f"conv = {{ height = {w.height}, width = {w.width}, channels = {w.channels}, "
        f"kernel = [{w.kernel_y}, {w.kernel_x}], stride = [{w.stride_y}, {w.stride_x}], "
        f"padding = [{w.pad_top}, {w.pad_left}, {w.pad_bottom}, {w.pad_right}] }}"
    ]
    pooling = layer.pooling
    if pooling is not None:
        lines.append(
            f'pool = {{ kind = "{pooling.kind}", size = [{pooling.size_y}, {pooling.size_x}], '
            f"stride = [{pooling.stride_y}, {pooling.stride_x}] }}"
        )
    return lines


def calibration_inputs(
    model: ImportedModel, inputs: np.ndarray, act_bits: int = 8
) -> tuple[np.ndarray, float]:
    """Integer calibration inputs and the input scale (one LSB's real value) they imply."""
    inputs = np.asarray(inputs, np.float64)
    if inputs.ndim < 2 or inputs.shape[1:] != model.input_shape:
        raise UserError(
            f"--inputs has shape {list(inputs.shape)}; the model takes (N, "
            f"{', '.join(map(str, model.input_shape))})"
        )
    largest = float(np.abs(inputs).max(initial=0.0))
    if not np.isfinite(largest) or largest == 0.0:
        raise UserError("--inputs must hold finite values, not all zero")
    top = (1 << (act_bits - 1)) - 1
    scale = largest / top
    integers = np.clip(np.rint(inputs / scale), -top, top).astype(np.int64)
    return model.hardware_inputs(integers), scale


def write_network(
    model: ImportedModel, toml_path: Path, calibration: np.ndarray | None = None
) -> list[Path]:
    """Write ``toml_path``, its ``.npz`` and (with calibration inputs) its calibration file;
    everything is checked before the first file is written. Returns the paths written."""
    toml_path = Path(toml_path)
    if not toml_path.parent.is_dir():
        raise UserError(f"cannot write {toml_path}: directory {toml_path.parent} does not exist")
    stem = toml_path.name.removesuffix(".toml")
    weights_path = toml_path.with_name(f"{stem}.npz")
    calibration_name = scale = integers = None
    if calibration is not None:
        integers, scale = calibration_inputs(model, calibration)
        calibration_name = f"{stem}.calibration.npy"
    arrays = {}
    for index, layer in enumerate(model.layers):
        arrays[f"layer{index}.weight"] = layer.weight
        arrays[f"layer{index}.bias"] = layer.bias
    text = network_toml(model, weights_path.name, calibration_name, scale)
    save_npz(weights_path, arrays)
    written = [weights_path]
    if integers is not None:
        save_npy(toml_path.with_name(calibration_name), integers)
        written.append(toml_path.with_name(calibration_name))
    write_text(toml_path, text)
    return [toml_path, *written]
