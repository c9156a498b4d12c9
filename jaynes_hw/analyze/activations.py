"""The 2024 paper's second lognormal: the distribution of each layer's neuron outputs.

``analyze_activations(model, inputs)`` runs a model on inputs and fits every layer's
*positive* outputs (after its ReLU; the zeros a ReLU makes are not a magnitude) with the same
fits and nulls as the weights (``fit_histogram``): a ``FileAnalysis`` whose layers are
``layerK.outputs``, printed, written and plotted like a weight file's. The model is either

- an ONNX model (any chain ``jaynes-hw import`` reads, convolutions too), run in float32 on
  float inputs in the model's own layout; or
- a generated design's manifest (``NAME.json``), run through the bit-exact reference on
  integer inputs: the hardware's own integer outputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jaynes_hw.analyze.file_analysis import FileAnalysis
from jaynes_hw.analyze.fit import FitOptions, fit_histogram
from jaynes_hw.analyze.histogram import MagnitudeHistogram
from jaynes_hw.contract.design import Design
from jaynes_hw.contract.manifest import is_manifest
from jaynes_hw.model import import_onnx
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import load_npy


def layer_outputs(model_path: Path, inputs: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """The kind of model (``"onnx"`` or ``"design"``) and each layer's outputs on ``inputs``."""
    if model_path.suffix == ".json" and is_manifest(model_path):
        design = Design.from_manifest(model_path)
        if inputs.ndim != 2 or inputs.shape[1] != design.n_in:
            raise UserError(f"--inputs must be (N, {design.n_in}) integers for {model_path}")
        if not np.issubdtype(inputs.dtype, np.integer):
            raise UserError("--inputs for a generated design must be integers (its input codes)")
        outputs, activation = [], inputs.astype(np.int64)
        for layer in design.layers:
            activation = layer.forward(activation)
            outputs.append(activation)
        return "design", outputs
    model = import_onnx(model_path)
    if inputs.shape[1:] != model.input_shape:
        raise UserError(
            f"--inputs has shape {list(inputs.shape)}; {model_path} takes (N, "
            f"{', '.join(map(str, model.input_shape))})"
        )
    return "onnx", model.layer_outputs(inputs.astype(np.float32))


def analyze_activations(
    model_path: str | Path, inputs_path: str | Path, fit: FitOptions = FitOptions()
) -> FileAnalysis:
    """Fit every layer's positive outputs (see the module docstring).

    Raises
    ------
    UserError
        An unreadable model or inputs, inputs of the wrong shape, or no layer with positive
        outputs to fit.
    """
    started = time.perf_counter()
    model_path = Path(model_path)
    inputs = load_npy(inputs_path)
    kind, outputs = layer_outputs(model_path, inputs)
    analysis = FileAnalysis(source=str(model_path), format=f"{kind} outputs")
    for index, output in enumerate(outputs):
        name = f"layer{index}.outputs"
        positive = output[output > 0].astype(np.float32)
        try:
            if positive.size == 0:
                raise UserError("no positive outputs")
            histogram = MagnitudeHistogram.of(positive)
            analysis.layers.append(fit_histogram(name, output.shape, histogram, fit))
        except UserError as error:
            analysis.skipped.append({"name": name, "reason": str(error)})
    analysis.seconds = time.perf_counter() - started
    if not analysis.layers:
        first = analysis.skipped[0]
        raise UserError(f"{model_path}: no layer's outputs could be fitted ({first['reason']})")
    return analysis
