"""GGUF files (llama.cpp): F32, F16 and BF16 tensors; quantized types are listed and skipped
(needs the ``gguf`` extra). GGUF lists dimensions fastest first; shapes here are numpy's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaynes_hw.support.extras import require_extra
from jaynes_hw.weights.tensor import WeightTensor, guarded, reading_errors


def list_gguf(path: Path) -> Iterator[WeightTensor]:
    gguf = require_extra("gguf", "gguf")
    with reading_errors(path, "the GGUF file"):
        reader = gguf.GGUFReader(path)
        tensors = list(reader.tensors)
    kinds = gguf.GGMLQuantizationType
    for tensor in tensors:
        shape = tuple(int(dim) for dim in reversed(tensor.shape.tolist()))
        kind = tensor.tensor_type

        def read(tensor=tensor, kind=kind, shape=shape) -> np.ndarray:
            data = np.asarray(tensor.data)
            if kind == kinds.BF16:
                data = data.view(np.uint16)  # raw bits: WeightTensor.load widens them
            return data.reshape(shape)

        supported = kind in (kinds.F32, kinds.F16, kinds.BF16)
        yield WeightTensor(
            tensor.name,
            shape,
            kind.name,
            guarded(path, tensor.name, read),
            None if supported else f"quantized GGUF type {kind.name} is not analysed",
        )
