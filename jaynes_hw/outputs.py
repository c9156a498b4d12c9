"""Writing result files atomically: a reader never sees a half-written file.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jaynes_hw.errors import UserError


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
