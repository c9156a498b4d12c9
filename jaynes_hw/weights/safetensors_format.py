"""safetensors files, memory-mapped, BF16 included; sharded checkpoints through their index.

The ``safetensors`` package's numpy front end cannot return BF16 tensors (numpy has no
bfloat16), and most large language-model checkpoints are BF16. The format is simple
enough to read directly: an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then
the raw little-endian tensor bytes, offsets relative to the end of the header.
Every tensor is returned as a read-only ``np.memmap`` view, so nothing is read until used.
A sharded checkpoint is read through its ``*.index.json`` weight map, or as a folder of
``*.safetensors`` files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaynes_hw.support.errors import UserError
from jaynes_hw.weights.tensor import (
    NOT_FLOAT,
    WeightTensor,
    guarded,
    reading_errors,
    unreadable,
)

# safetensors dtype name -> numpy dtype of the stored bytes (BF16 is read as raw uint16).
STORED_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# The header of a real checkpoint is at most a few MB; anything far larger is corruption.
MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class SafetensorsEntry:
    """One tensor's place in a safetensors file (offsets absolute, in bytes)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def read_header(path: str | os.PathLike[str]) -> list[SafetensorsEntry]:
    """Parse and validate the header of a safetensors file.

    Raises
    ------
    UserError
        If the file is empty, truncated, or its header is not valid safetensors.
    """
    path = Path(path)
    file_size = path.stat().st_size
    if file_size < 8:
        raise UserError(f"{path}: not a safetensors file ({file_size} bytes, too short)")
    with path.open("rb") as stream:
        header_size = int.from_bytes(stream.read(8), "little")
        if header_size > MAX_HEADER_BYTES or 8 + header_size > file_size:
            raise UserError(
                f"{path}: truncated or corrupt safetensors file "
                f"(header of {header_size} bytes in a file of {file_size})"
            )
        raw_header = stream.read(header_size)
    try:
        header = json.loads(raw_header)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: corrupt safetensors header ({error})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: corrupt safetensors header (not a JSON object)")
    data_start = 8 + header_size
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        entries.append(_parse_entry(path, name, info, data_start, file_size))
    return entries


def _parse_entry(
    path: Path, name: str, info: object, data_start: int, file_size: int
) -> SafetensorsEntry:
    try:
        dtype = info["dtype"]  # type: ignore[index]
        shape = tuple(int(dim) for dim in info["shape"])  # type: ignore[index]
        begin, end = (int(offset) for offset in info["data_offsets"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise UserError(f"{path}: corrupt safetensors header entry for {name!r}") from None
    if any(dim < 0 for dim in shape) or not 0 <= begin <= end:
        raise UserError(f"{path}: corrupt safetensors header entry for {name!r}")
    if data_start + end > file_size:
        raise UserError(
            f"{path}: truncated safetensors file (tensor {name!r} ends at byte "
            f"{data_start + end}, file has {file_size})"
        )
    stored = STORED_DTYPES.get(dtype)
    if stored is not None and (end - begin) != math.prod(shape) * stored.itemsize:
        raise UserError(
            f"{path}: corrupt safetensors header: {name!r} has {end - begin} bytes "
            f"for shape {list(shape)} of {dtype}"
        )
    return SafetensorsEntry(name, dtype, shape, data_start + begin, data_start + end)


def map_tensor(path: str | os.PathLike[str], entry: SafetensorsEntry) -> np.ndarray:
    """Memory-map one tensor read-only, as stored (BF16 comes back as raw ``uint16``)."""
    stored = STORED_DTYPES[entry.dtype]
    count = math.prod(entry.shape)
    if count == 0:
        return np.zeros(entry.shape, dtype=stored)
    return np.memmap(path, dtype=stored, mode="r", offset=entry.begin, shape=entry.shape)


FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


def list_safetensors(path: Path) -> Iterator[WeightTensor]:
    """Every tensor of one ``.safetensors`` file, from its header."""
    for entry in read_header(path):
        if entry.dtype not in STORED_DTYPES:
            reason = f"unsupported safetensors dtype {entry.dtype}"
            yield unreadable(entry.name, entry.shape, entry.dtype, reason)
            continue

        def read(entry: SafetensorsEntry = entry) -> np.ndarray:
            return map_tensor(path, entry)

        yield WeightTensor(
            entry.name,
            entry.shape,
            entry.dtype,
            guarded(path, entry.name, read),
            None if entry.dtype in FLOAT_DTYPES else NOT_FLOAT,
        )


def list_sharded(path: Path) -> Iterator[WeightTensor]:
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
                yield from list_safetensors(shard)
            return
    with reading_errors(path, "the safetensors index"):
        index = json.loads(path.read_text())
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict):
            raise ValueError("'weight_map' is not an object")
    for shard_name in dict.fromkeys(weight_map.values()):
        shard = path.parent / shard_name
        if not shard.exists():
            raise UserError(f"{path}: shard {shard_name} listed in the index is missing")
        yield from list_safetensors(shard)
