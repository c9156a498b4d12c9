"""Small ONNX graphs written for the import tests (needs the ``onnx`` extra)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_graph(path, nodes, initializers, input_dims, output_dims=None, checked=True):
    """Write a one-input (``x``), one-output (``y``) float graph of ``nodes`` to ``path``,
    opset 17; float64 initializers are stored as float32, others as given. ``checked``:
    through ``onnx.checker`` first (off for graphs meant to be refused)."""
    tensors = [
        numpy_helper.from_array(
            np.asarray(array, np.float32) if np.asarray(array).dtype == np.float64 else
            np.asarray(array), name,
        )
        for name, array in initializers.items()
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_dims)],
        tensors,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if checked:
        onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
