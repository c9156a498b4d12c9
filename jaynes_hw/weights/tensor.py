"""``WeightTensor``, a tensor listed but not yet read, and the error guard every reader uses.

A reader lists a file's tensors cheaply (names, shapes, stored types) and hands each one a
``read`` function; ``WeightTensor.load`` calls it. Exceptions a third-party reader raises on a
truncated or corrupt file become one ``UserError`` naming the file (``reading_errors``).
"""

from __future__ import annotations

import contextlib
import math
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaynes_hw.support.errors import UserError

NOT_FLOAT = "not a floating-point tensor"


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
    reader: Callable[[], np.ndarray] = field(repr=False, compare=False)
    skip_reason: str | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def bfloat16(self) -> bool:
        """True when ``read_stored`` returns raw bfloat16 bits (uint16)."""
        return self.stored_dtype == "BF16"

    def read_stored(self) -> np.ndarray:
        """The tensor as the file stores it, memory-mapped where the format allows (no copy).

        BF16 comes back as raw ``uint16`` bits (numpy has no bfloat16): see ``bfloat16``.
        """
        return self.reader()

    def load(self) -> np.ndarray:
        """Read the tensor: a float32 array (float64 if stored so), in numpy shape order."""
        array = self.reader()
        if self.bfloat16:
            return bf16_to_float32(array)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float32)
        return array


def unreadable(name: str, shape: tuple[int, ...], stored_dtype: str, reason: str) -> WeightTensor:
    """A listed tensor that cannot be read as float weights, with the reason."""
    return WeightTensor(name, shape, stored_dtype, lambda: np.empty(0), reason)


def float_or_skip(name: str, shape: tuple[int, ...], dtype: np.dtype, reader) -> WeightTensor:
    """A tensor of numpy ``dtype``: readable when it is floating point, else skipped."""
    reason = None if np.issubdtype(dtype, np.floating) else NOT_FLOAT
    return WeightTensor(name, shape, dtype.name.upper(), reader, reason)


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32 exactly: bf16 is float32's top half."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


# Exceptions that third-party readers raise on files that are truncated or not what they say.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
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
def reading_errors(path: Path, what: str) -> Iterator[None]:
    """Turn a reader's low-level exception into one clear ``UserError`` naming the file."""
    try:
        yield
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{path}: not enough memory to read {what}") from None
    except CORRUPT_FILE_ERRORS as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot read {what}: {detail}") from None
    except Exception as error:
        # Protobuf's DecodeError and similar reader-specific exceptions.
        if type(error).__name__.endswith("DecodeError"):
            raise UserError(f"{path}: cannot read {what}: corrupt file ({error})") from None
        raise


def guarded(path: Path, what: str, reader: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``reader`` with its errors turned into ``UserError`` (see ``reading_errors``)."""

    def read() -> np.ndarray:
        with reading_errors(path, what):
            return reader()

    return read
