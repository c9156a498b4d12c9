"""numpy files: a ``.npy`` array (named after the file) or the arrays of a ``.npz`` archive."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaynes_hw.weights.tensor import WeightTensor, float_or_skip, guarded, reading_errors


def list_npy(path: Path) -> Iterator[WeightTensor]:
    """The one array of a ``.npy`` file, memory-mapped."""
    with reading_errors(path, "the .npy file"):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    yield float_or_skip(
        path.stem, array.shape, array.dtype, guarded(path, path.stem, lambda: array)
    )


def list_npz(path: Path) -> Iterator[WeightTensor]:
    """Every array of a ``.npz`` archive, from its headers; each is read when loaded."""
    with reading_errors(path, "the .npz archive"):
        # zipfile closes the file when the archive is corrupt; np.load would leak it.
        with zipfile.ZipFile(path):
            pass
        archive = np.load(path, allow_pickle=False)
        members = archive.zip.infolist()
    for member in members:
        name = member.filename.removesuffix(".npy")
        with reading_errors(path, f"array {name!r}"), archive.zip.open(member) as stream:
            shape, dtype = _npy_header(stream)

        def read(name: str = name) -> np.ndarray:
            return archive[name]

        yield float_or_skip(name, tuple(shape), dtype, guarded(path, f"array {name!r}", read))


def _npy_header(stream) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy stream, from its header alone."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    return tuple(shape), dtype
