"""A memory-mapping reader for the safetensors format, BF16 included.

The ``safetensors`` package's numpy front end cannot return BF16 tensors (numpy has no
bfloat16), and most large language-model checkpoints are BF16. The format is simple
enough to read directly: an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then
the raw little-endian tensor bytes, offsets relative to the end of the header.
Every tensor is returned as a read-only ``np.memmap`` view, so nothing is read until used.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaynes_hw.errors import UserError

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
