"""Which reader reads a file: the format table, detection by name or first bytes, dispatch.

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
"""

from __future__ import annotations

import glob
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from jaynes_hw.support.errors import UserError
from jaynes_hw.weights import (
    gguf_format,
    numpy_format,
    onnx_format,
    safetensors_format,
    tflite_format,
    torch_format,
)
from jaynes_hw.weights.tensor import WeightTensor

# format name -> the reader that lists its tensors
READERS: dict[str, Callable[[Path], Iterator[WeightTensor]]] = {
    "npy": numpy_format.list_npy,
    "npz": numpy_format.list_npz,
    "safetensors": safetensors_format.list_safetensors,
    "safetensors-index": safetensors_format.list_sharded,
    "onnx": onnx_format.list_onnx,
    "tflite": tflite_format.list_tflite,
    "torch": torch_format.list_torch,
    "gguf": gguf_format.list_gguf,
}
FORMATS = tuple(READERS)
SUFFIX_FORMATS = {
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
SHARD_NAME = re.compile(r"-\d+-of-\d+\.safetensors$")
SUFFIXES_HELP = ".npy .npz .safetensors .onnx .tflite .pt/.pth/.bin .gguf"


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
    by_suffix = SUFFIX_FORMATS.get(path.suffix.lower())
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
    raise UserError(f"{path}: unknown weight file format (expected one of {SUFFIXES_HELP})")


def expand_weight_paths(arguments: list[str]) -> list[Path]:
    """The weight files named on a command line: each argument is a file, a checkpoint
    folder (safetensors shards or index), a folder of weight files (a model zoo: each file
    with a known suffix directly inside it), or a quoted glob pattern (``'zoo/*.onnx'``).

    Raises
    ------
    UserError
        A name that matches nothing, or a folder with no weight files.
    """
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if not path.exists() and glob.has_magic(argument):
            matches = sorted(Path(match) for match in glob.glob(argument))
            if not matches:
                raise UserError(f"{argument}: no file matches this pattern")
            paths.extend(matches)
        elif path.is_dir() and not _is_checkpoint_folder(path):
            members = sorted(
                member
                for member in path.iterdir()
                if member.is_file()
                and (member.suffix.lower() in SUFFIX_FORMATS or member.name.endswith(".index.json"))
            )
            if not members:
                raise UserError(f"{path}: folder has no weight files ({SUFFIXES_HELP})")
            paths.extend(members)
        else:
            paths.append(path)
    return list(dict.fromkeys(paths))


def _is_checkpoint_folder(path: Path) -> bool:
    """A folder that is one safetensors checkpoint: it has an index, or it holds safetensors
    files only, named as shards (``model-00001-of-00004.safetensors``) or just one."""
    if any(path.glob("*.safetensors.index.json")):
        return True
    weight_files = [file for file in path.iterdir() if file.suffix.lower() in SUFFIX_FORMATS]
    shards = [file for file in weight_files if file.suffix == ".safetensors"]
    return (
        bool(shards)
        and len(shards) == len(weight_files)
        and (len(shards) == 1 or all(SHARD_NAME.search(file.name) for file in shards))
    )


def _zip_has_npy_members(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(".npy") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def iter_tensors(path: str | os.PathLike[str], format: str | None = None) -> Iterator[WeightTensor]:
    """List the tensors of a weight file lazily (each ``WeightTensor.load`` reads one).

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
    if format not in READERS:
        raise UserError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    yield from READERS[format](path)
