"""PyTorch checkpoints: state dicts, nested ones included (needs PyTorch, the ``torch``
extra). Loaded with ``weights_only=True`` (no arbitrary pickles) and memory-mapped when the
file is in the zip format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra
from jaynes_hw.weights.tensor import NOT_FLOAT, WeightTensor, guarded, reading_errors


def list_torch(path: Path) -> Iterator[WeightTensor]:
    torch = require_extra("torch", "torch")
    with reading_errors(path, "the PyTorch checkpoint"):
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
            guarded(path, name, read),
            None if tensor.is_floating_point() else NOT_FLOAT,
        )


def _flatten_state_dict(tree: dict, torch, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Walk nested checkpoint dicts (``{"state_dict": {...}, "optimizer": ...}``) for tensors."""
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            yield name, value
        elif isinstance(value, dict):
            yield from _flatten_state_dict(value, torch, prefix=f"{name}.")
