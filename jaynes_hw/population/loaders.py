"""Lazy weight loaders: one tensor at a time, whatever the file format.

``iter_tensors(path)`` lists a weight file's tensors (name, shape, stored dtype) without
reading their data; each ``WeightTensor.load()`` then reads one tensor and returns it as a
float32 (float64 when stored as such) numpy array. Formats:

=============================  ===========================  =====================
format                         files                        extra needed
=============================  ===========================  =====================
numpy                          ``.npy``, ``.npz``           none
safetensors (memory-mapped)    ``.safetensors``, sharded    none
                               ``*.index.json``, a folder
ONNX initializers              ``.onnx``                    ``jaynes-hw[onnx]``
TFLite flatbuffers             ``.tflite``                  ``jaynes-hw[tflite]``
PyTorch state dicts            ``.pt``, ``.pth``, ``.bin``  ``jaynes-hw[torch]``
GGUF (F32/F16/BF16 tensors)    ``.gguf``                    ``jaynes-hw[gguf]``
=============================  ===========================  =====================

Integer tensors are skipped (they are indices or masks), except TFLite int8/uint8 tensors
with quantization scales, which are dequantized. Errors a file can cause become
``UserError`` with the file name in the message.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import mmap
import os
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from jaynes_hw.errors import UserError
from jaynes_hw.population import safetensors_file

FORMATS = ("npy", "npz", "safetensors", "safetensors-index", "onnx", "tflite", "torch", "gguf")

_SUFFIX_FORMATS = {
    ".npy": "npy",
    ".npz": "npz",
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
    ".gguf": "gguf",
}


@dataclass(frozen=True)
class WeightTensor:
    """A tensor in a weight file, listed but not yet read.

    Attributes
    ----------
    name : str
        The tensor's name in the file.
    shape : tuple of int
        Its shape, numpy (row-major) order.
    stored_dtype : str
        How the file stores it (``"F32"``, ``"BF16"``, ``"INT8 (dequantized)"`` …).
    skip_reason : str or None
        Why it cannot be analysed (e.g. a quantized GGUF type), or None.
    """

    name: str
    shape: tuple[int, ...]
    stored_dtype: str
    _reader: Callable[[], np.ndarray] = field(repr=False, compare=False)
    skip_reason: str | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def load(self) -> np.ndarray:
        """Read the tensor: a float32 array (float64 if stored so), in numpy shape order."""
        array = self._reader()
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
        return array


def require_extra(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or fail with the ``pip install`` line that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"reading this format needs the '{extra}' extra: pip install 'jaynes-hw[{extra}]'"
        ) from None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of ``path`` (one of ``FORMATS``) from its name, else its first bytes."""
    path = Path(path)
    if path.is_dir():
        return "safetensors-index"
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.name.endswith(".index.json"):
        return "safetensors-index"
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty")
    by_suffix = _SUFFIX_FORMATS.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    with path.open("rb") as stream:
        head = stream.read(16)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"PK"):
        return "npz" if _zip_has_npy_members(path) else "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    raise UserError(
        f"{path}: unknown weight file format (expected one of "
        ".npy .npz .safetensors .onnx .tflite .pt/.pth/.bin .gguf)"
    )


def _zip_has_npy_members(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(".npy") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


# Exceptions that third-party readers raise on files that are truncated or not what they say.
_CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    RuntimeError,
    TypeError,
    AttributeError,
    struct.error,
    zipfile.BadZipFile,
    UnicodeDecodeError,
)


@contextlib.contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Turn a reader's low-level exception into one clear ``UserError`` naming the file."""
    try:
        yield
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{path}: not enough memory to read {what}") from None
    except _CORRUPT_FILE_ERRORS as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot read {what}: {detail}") from None
    except Exception as error:
        # Protobuf's DecodeError and similar reader-specific exceptions.
        if type(error).__name__.endswith("DecodeError"):
            raise UserError(f"{path}: cannot read {what}: corrupt file ({error})") from None
        raise


def _guarded(path: Path, what: str, reader: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        with _reading(path, what):
            return reader()

    return read


def iter_tensors(path: str | os.PathLike[str], format: str | None = None) -> Iterator[WeightTensor]:
    """List the tensors of a weight file lazily; see the module docstring for formats.

    Parameters
    ----------
    path : path
        The weight file (or, for sharded safetensors, its index or folder).
    format : str, optional
        One of ``FORMATS``; detected from the name or first bytes when omitted.

    Raises
    ------
    UserError
        Unknown, empty, truncated or corrupt files, or a missing optional extra.
    """
    path = Path(path)
    format = format or detect_format(path)
    listers: dict[str, Callable[[Path], Iterator[WeightTensor]]] = {
        "npy": _iter_npy,
        "npz": _iter_npz,
        "safetensors": _iter_safetensors,
        "safetensors-index": _iter_safetensors_index,
        "onnx": _iter_onnx,
        "tflite": _iter_tflite,
        "torch": _iter_torch,
        "gguf": _iter_gguf,
    }
    if format not in listers:
        raise UserError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    yield from listers[format](path)


def _float_or_skip(name: str, shape: tuple[int, ...], dtype: np.dtype, reader) -> WeightTensor:
    if np.issubdtype(dtype, np.floating):
        return WeightTensor(name, shape, dtype.name.upper(), reader)
    return WeightTensor(name, shape, dtype.name.upper(), reader, "not a floating-point tensor")


def _iter_npy(path: Path) -> Iterator[WeightTensor]:
    with _reading(path, "the .npy file"):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    yield _float_or_skip(
        path.stem, array.shape, array.dtype, _guarded(path, path.stem, lambda: array)
    )


def _iter_npz(path: Path) -> Iterator[WeightTensor]:
    with _reading(path, "the .npz archive"):
        # zipfile closes the file when the archive is corrupt; np.load would leak it.
        with zipfile.ZipFile(path):
            pass
        archive = np.load(path, allow_pickle=False)
        members = archive.zip.infolist()
    for member in members:
        name = member.filename.removesuffix(".npy")
        with _reading(path, f"array {name!r}"), archive.zip.open(member) as stream:
            shape, dtype = _npy_header(stream)

        def read(name: str = name) -> np.ndarray:
            return archive[name]

        yield _float_or_skip(name, tuple(shape), dtype, _guarded(path, f"array {name!r}", read))


def _npy_header(stream) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy stream, from its header alone."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    return tuple(shape), dtype


def _bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32 exactly: bf16 is float32's top half."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _iter_safetensors(path: Path) -> Iterator[WeightTensor]:
    for entry in safetensors_file.read_header(path):
        if entry.dtype not in safetensors_file.STORED_DTYPES:
            yield WeightTensor(
                entry.name,
                entry.shape,
                entry.dtype,
                lambda: np.empty(0),
                f"unsupported safetensors dtype {entry.dtype}",
            )
            continue

        def read(entry: safetensors_file.SafetensorsEntry = entry) -> np.ndarray:
            stored = safetensors_file.map_tensor(path, entry)
            return _bf16_to_float32(stored) if entry.dtype == "BF16" else stored

        is_float = entry.dtype in ("F64", "F32", "F16", "BF16")
        yield WeightTensor(
            entry.name,
            entry.shape,
            entry.dtype,
            _guarded(path, entry.name, read),
            None if is_float else "not a floating-point tensor",
        )


def _iter_safetensors_index(path: Path) -> Iterator[WeightTensor]:
    """Sharded safetensors: a ``*.index.json`` weight map, or a folder of ``*.safetensors``."""
    if path.is_dir():
        indexes = sorted(path.glob("*.safetensors.index.json"))
        if indexes:
            path = indexes[0]
        else:
            shards = sorted(path.glob("*.safetensors"))
            if not shards:
                raise UserError(f"{path}: folder has no *.safetensors files or index")
            for shard in shards:
                yield from _iter_safetensors(shard)
            return
    with _reading(path, "the safetensors index"):
        index = json.loads(path.read_text())
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict):
            raise ValueError("'weight_map' is not an object")
    shard_names = list(dict.fromkeys(weight_map.values()))
    for shard_name in shard_names:
        shard = path.parent / shard_name
        if not shard.exists():
            raise UserError(f"{path}: shard {shard_name} listed in the index is missing")
        yield from _iter_safetensors(shard)


def _iter_onnx(path: Path) -> Iterator[WeightTensor]:
    onnx = require_extra("onnx", "onnx")
    from onnx import numpy_helper

    with _reading(path, "the ONNX model"):
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
            _guarded(path, tensor.name, read),
            None if type_name else "not a floating-point tensor",
        )


def _iter_tflite(path: Path) -> Iterator[WeightTensor]:
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
    with _reading(path, "the TFLite model"):
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
            yield WeightTensor(
                name,
                shape,
                type_name,
                lambda: np.empty(0),
                "not a floating-point tensor",  # or integer without scales to dequantize
            )
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
        yield WeightTensor(name, shape, label, _guarded(path, name, read))


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


def _iter_torch(path: Path) -> Iterator[WeightTensor]:
    torch = require_extra("torch", "torch")
    with _reading(path, "the PyTorch checkpoint"):
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)  # legacy format
    if isinstance(loaded, torch.Tensor):
        loaded = {path.stem: loaded}
    if not isinstance(loaded, dict):
        raise UserError(
            f"{path}: expected a state dict (save model.state_dict()), "
            f"found {type(loaded).__name__}"
        )
    for name, tensor in _flatten_state_dict(loaded, torch):

        def read(tensor=tensor) -> np.ndarray:
            return tensor.detach().to(torch.float32).numpy()

        yield WeightTensor(
            name,
            tuple(tensor.shape),
            str(tensor.dtype).removeprefix("torch."),
            _guarded(path, name, read),
            None if tensor.is_floating_point() else "not a floating-point tensor",
        )


def _flatten_state_dict(tree: dict, torch, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Walk nested checkpoint dicts (``{"state_dict": {...}, "optimizer": ...}``) for tensors."""
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            yield name, value
        elif isinstance(value, dict):
            yield from _flatten_state_dict(value, torch, prefix=f"{name}.")


def _iter_gguf(path: Path) -> Iterator[WeightTensor]:
    gguf = require_extra("gguf", "gguf")
    with _reading(path, "the GGUF file"):
        reader = gguf.GGUFReader(path)
        tensors = list(reader.tensors)
    kinds = gguf.GGMLQuantizationType
    for tensor in tensors:
        shape = tuple(int(dim) for dim in reversed(tensor.shape.tolist()))
        kind = tensor.tensor_type

        def read(tensor=tensor, kind=kind, shape=shape) -> np.ndarray:
            data = np.asarray(tensor.data)
            if kind == kinds.BF16:
                data = _bf16_to_float32(data.view(np.uint16))
            return data.reshape(shape)

        supported = kind in (kinds.F32, kinds.F16, kinds.BF16)
        yield WeightTensor(
            tensor.name,
            shape,
            kind.name,
            _guarded(path, tensor.name, read),
            None if supported else f"quantized GGUF type {kind.name} is not analysed",
        )
