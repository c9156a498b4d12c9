"""ONNX models: the graph's initializers and Constant nodes (needs the ``onnx`` extra).

External data (weights in a side file) is read when a tensor is loaded, not when listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaynes_hw.support.extras import require_extra
from jaynes_hw.weights.tensor import NOT_FLOAT, WeightTensor, guarded, reading_errors


def list_onnx(path: Path) -> Iterator[WeightTensor]:
    onnx = require_extra("onnx", "onnx")
    from onnx import numpy_helper

    with reading_errors(path, "the ONNX model"):
        model = onnx.load(str(path), load_external_data=False)
        tensors = list(model.graph.initializer)
        for node in model.graph.node:
            if node.op_type == "Constant":
                tensors.extend(attr.t for attr in node.attribute if attr.name == "value")
    float_types = {
        onnx.TensorProto.FLOAT: "FLOAT",
        onnx.TensorProto.FLOAT16: "FLOAT16",
        onnx.TensorProto.DOUBLE: "DOUBLE",
        onnx.TensorProto.BFLOAT16: "BFLOAT16",
    }
    base_dir = str(path.parent)

    for tensor in tensors:

        def read(tensor=tensor) -> np.ndarray:
            if onnx.external_data_helper.uses_external_data(tensor):
                onnx.external_data_helper.load_external_data_for_tensor(tensor, base_dir)
            return np.asarray(numpy_helper.to_array(tensor)).astype(np.float32, copy=False)

        type_name = float_types.get(tensor.data_type)
        yield WeightTensor(
            tensor.name,
            tuple(int(dim) for dim in tensor.dims),
            type_name or onnx.TensorProto.DataType.Name(tensor.data_type),
            guarded(path, tensor.name, read),
            None if type_name else NOT_FLOAT,
        )
