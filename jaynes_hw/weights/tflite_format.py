"""TFLite flatbuffers: float32/float16 constant tensors, and int8/uint8 tensors dequantized
with their scales (needs the ``tflite`` extra). The file is memory-mapped."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra
from jaynes_hw.weights.tensor import NOT_FLOAT, WeightTensor, guarded, reading_errors, unreadable


def list_tflite(path: Path) -> Iterator[WeightTensor]:
    tflite = require_extra("tflite", "tflite")
    with path.open("rb") as stream:
        buffer = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    if buffer[4:8] != b"TFL3":
        raise UserError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    TensorType = tflite.TensorType
    dtypes = {
        TensorType.FLOAT32: np.dtype("<f4"),
        TensorType.FLOAT16: np.dtype("<f2"),
        TensorType.FLOAT64: np.dtype("<f8"),
        TensorType.INT8: np.dtype("i1"),
        TensorType.UINT8: np.dtype("u1"),
    }
    with reading_errors(path, "the TFLite model"):
        model = tflite.Model.GetRootAsModel(buffer, 0)
        seen_buffers: set[int] = set()
        listed: list[tuple] = []
        for subgraph_index in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(subgraph_index)
            for tensor_index in range(subgraph.TensorsLength()):
                tensor = subgraph.Tensors(tensor_index)
                buffer_index = tensor.Buffer()
                if buffer_index == 0 or buffer_index in seen_buffers:
                    continue
                stored = model.Buffers(buffer_index)
                if stored.DataLength() == 0 and stored.Offset() <= 1:
                    continue  # not a constant: an activation or a variable
                seen_buffers.add(buffer_index)
                listed.append((tensor, stored))

    for tensor, stored in listed:
        name = tensor.Name().decode("utf-8", "replace")
        shape = tuple(int(dim) for dim in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        tensor_type = tensor.Type()
        dtype = dtypes.get(tensor_type)
        type_name = next(
            (key for key, value in vars(TensorType).items() if value == tensor_type), "?"
        )
        quantization = tensor.Quantization()
        has_scale = quantization is not None and quantization.ScaleLength() > 0
        if dtype is None or (dtype.kind in "iu" and not has_scale):
            # not float, or integer without scales to dequantize
            yield unreadable(name, shape, type_name, NOT_FLOAT)
            continue

        def read(tensor=tensor, stored=stored, dtype=dtype) -> np.ndarray:
            if stored.DataLength() > 0:
                raw = stored.DataAsNumpy()
            else:  # large models keep buffers outside the flatbuffer, at an absolute offset
                raw = np.frombuffer(buffer, np.uint8, count=stored.Size(), offset=stored.Offset())
            values = (
                np.asarray(raw)
                .view(dtype)
                .reshape(tuple(int(dim) for dim in tensor.ShapeAsNumpy()))
            )
            if dtype.kind in "iu":
                values = _dequantize(values, tensor.Quantization())
            return values

        label = type_name + (" (dequantized)" if dtype.kind in "iu" else "")
        yield WeightTensor(name, shape, label, guarded(path, name, read))


def _dequantize(values: np.ndarray, quantization) -> np.ndarray:
    """TFLite affine dequantization: real = scale * (q - zero_point), per tensor or per axis."""
    scales = quantization.ScaleAsNumpy().astype(np.float32)
    zero_points = (
        quantization.ZeroPointAsNumpy().astype(np.float32)
        if quantization.ZeroPointLength()
        else np.zeros_like(scales)
    )
    if scales.size == 1:
        return (values.astype(np.float32) - zero_points[0]) * scales[0]
    axis = quantization.QuantizedDimension()
    broadcast = [1] * values.ndim
    broadcast[axis] = scales.size
    return (values.astype(np.float32) - zero_points.reshape(broadcast)) * scales.reshape(broadcast)
