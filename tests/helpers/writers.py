"""Write small weight files in every supported format, each with that format's own library."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(array) for name, array in tensors.items()}, str(path))
    return path


def write_safetensors_bf16(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """BF16 tensors, written from the format's specification (8-byte header length, JSON
    header, raw little-endian data): the safetensors package writes BF16 only from torch."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = (np.ascontiguousarray(array, np.float32).view(np.uint32) >> 16).astype("<u2")
        blob = data.tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + b"".join(blobs))
    return path


def bf16_round(array: np.ndarray) -> np.ndarray:
    """What a float32 array becomes after truncation to bfloat16."""
    return ((np.asarray(array, np.float32).view(np.uint32) >> 16) << 16).view(np.float32)


def write_sharded_safetensors(folder: Path, shards: list[dict[str, np.ndarray]]) -> Path:
    weight_map = {}
    for number, tensors in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(folder / name, tensors)
        weight_map.update({tensor: name for tensor in tensors})
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def write_onnx(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    import onnx
    from onnx import helper, numpy_helper

    initializers = [numpy_helper.from_array(array, name) for name, array in tensors.items()]
    output = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    first = next(iter(tensors))
    node = helper.make_node("Identity", [first], ["y"])
    graph = helper.make_graph([node], "weights", [], [output], initializer=initializers)
    onnx.save(helper.make_model(graph), str(path))
    return path


def write_tflite(path: Path, tensors: dict[str, tuple[np.ndarray, dict | None]]) -> Path:
    """A TFLite flatbuffer holding constant tensors.

    ``tensors`` maps a name to ``(array, quantization)``; quantization is None or
    ``{"scale": [...], "zero_point": [...], "axis": int}`` for int8 arrays.
    """
    import importlib

    import flatbuffers

    # tflite's package namespace holds the classes; the builder functions live in the modules.
    tflite = SimpleNamespace(
        **{
            name: importlib.import_module(f"tflite.{name}")
            for name in ("Buffer", "Model", "QuantizationParameters", "SubGraph", "Tensor")
        }
    )
    from tflite.TensorType import TensorType

    types = {
        np.dtype("float32"): TensorType.FLOAT32,
        np.dtype("float16"): TensorType.FLOAT16,
        np.dtype("int8"): TensorType.INT8,
    }
    builder = flatbuffers.Builder(1024)

    def vector(start, values, prepend):
        start(builder, len(values))
        for value in reversed(values):
            prepend(value)
        return builder.EndVector()

    buffer_offsets = [_tflite_buffer(builder, tflite, None)]
    for array, _ in tensors.values():
        buffer_offsets.append(_tflite_buffer(builder, tflite, array.tobytes()))
    tensor_offsets = []
    for index, (name, (array, quantization)) in enumerate(tensors.items(), start=1):
        name_offset = builder.CreateString(name)
        shape = vector(
            tflite.Tensor.TensorStartShapeVector, list(array.shape), builder.PrependInt32
        )
        quant_offset = None
        if quantization is not None:
            scale = vector(
                tflite.QuantizationParameters.StartScaleVector,
                list(quantization["scale"]),
                builder.PrependFloat32,
            )
            zero = vector(
                tflite.QuantizationParameters.StartZeroPointVector,
                list(quantization["zero_point"]),
                builder.PrependInt64,
            )
            tflite.QuantizationParameters.Start(builder)
            tflite.QuantizationParameters.AddScale(builder, scale)
            tflite.QuantizationParameters.AddZeroPoint(builder, zero)
            tflite.QuantizationParameters.AddQuantizedDimension(builder, quantization["axis"])
            quant_offset = tflite.QuantizationParameters.End(builder)
        tflite.Tensor.Start(builder)
        tflite.Tensor.AddShape(builder, shape)
        tflite.Tensor.AddType(builder, types[array.dtype])
        tflite.Tensor.AddBuffer(builder, index)
        tflite.Tensor.AddName(builder, name_offset)
        if quant_offset is not None:
            tflite.Tensor.AddQuantization(builder, quant_offset)
        tensor_offsets.append(tflite.Tensor.End(builder))
    tensors_vector = vector(
        tflite.SubGraph.StartTensorsVector, tensor_offsets, builder.PrependUOffsetTRelative
    )
    tflite.SubGraph.Start(builder)
    tflite.SubGraph.AddTensors(builder, tensors_vector)
    subgraph = tflite.SubGraph.End(builder)
    subgraphs = vector(
        tflite.Model.StartSubgraphsVector, [subgraph], builder.PrependUOffsetTRelative
    )
    buffers = vector(
        tflite.Model.StartBuffersVector, buffer_offsets, builder.PrependUOffsetTRelative
    )
    tflite.Model.Start(builder)
    tflite.Model.AddVersion(builder, 3)
    tflite.Model.AddSubgraphs(builder, subgraphs)
    tflite.Model.AddBuffers(builder, buffers)
    builder.Finish(tflite.Model.End(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


def _tflite_buffer(builder, tflite, data: bytes | None):
    data_offset = builder.CreateByteVector(data) if data else None
    tflite.Buffer.Start(builder)
    if data_offset is not None:
        tflite.Buffer.AddData(builder, data_offset)
    return tflite.Buffer.End(builder)


def write_gguf(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "test")
    for name, array in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_torch(path: Path, tensors: dict[str, np.ndarray], nested: bool = False) -> Path:
    import torch

    state = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in tensors.items()}
    torch.save({"state_dict": state, "epoch": 3} if nested else state, path)
    return path
