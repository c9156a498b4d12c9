"""Writing files atomically: a reader never sees a half-written file.

Every output goes to a temporary file in the destination directory and is renamed over the
destination only when it is complete, so an interrupted or failed run leaves either the old
file or none.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaynes_hw.support.errors import UserError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    destination = Path(path)
    directory = destination.parent
    if not directory.is_dir():
        raise UserError(f"cannot write {destination}: directory {directory} does not exist")
    fd, temporary_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=directory
    )
    os.close(fd)
    temporary = Path(temporary_name)
    try:
        yield temporary
        # mkstemp creates 0600; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_toml(path: str | os.PathLike[str]) -> dict:
    """A TOML document; a missing, unreadable or invalid file is one ``UserError``."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """An array from a ``.npy`` file (no pickles); a missing or unreadable file is one
    ``UserError``."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a .npy array ({error})") from None


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by None (JSON has no NaN) and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike[str], document: Any) -> None:
    """Write ``document`` as indented JSON, atomically; NaN/Inf become null."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(json_safe(document), indent=2) + "\n")


def write_csv(
    path: str | os.PathLike[str], header: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Write a CSV file with a header row, atomically."""
    with atomic_output(path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path``, atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def write_text_files(directory: str | os.PathLike[str], files: Mapping[str, str]) -> list[Path]:
    """Write ``{file name: text}`` into ``directory`` (created if needed), each atomically.

    Returns the paths written, in the order given.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"cannot write into {directory}: it is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        write_text(directory / name, text)
        written.append(directory / name)
    return written


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """``np.save`` to ``path``, atomically (no pickles)."""
    with atomic_output(path) as temporary, temporary.open("wb") as stream:
        np.save(stream, np.asarray(array), allow_pickle=False)


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` of named arrays to ``path``, atomically."""
    with atomic_output(path) as temporary, temporary.open("wb") as stream:
        np.savez(stream, **arrays)
