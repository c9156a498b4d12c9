"""Small quantized files (``jaynes-hw quantize --out``) for the generator's tests."""

from __future__ import annotations

from pathlib import Path

from jaynes_hw.quantize import quantize_layer
from jaynes_hw.quantize.archive import save_quantized
from tests.helpers.populations import lognormal_weights


def chain_file(tmp_path, scheme="lognormal", bits=4, per_channel=False) -> Path:
    """A 12 -> 8 -> 5 chain of sign x LN(-3, 1) layers ``a`` and ``b``, as chain.q.npz."""
    layers = [
        quantize_layer("a", lognormal_weights((8, 12), -3.0, 1.0, seed=1), scheme, bits,
                       per_channel=per_channel),
        quantize_layer("b", lognormal_weights((5, 8), -3.0, 1.0, seed=2), scheme, bits),
    ]  # fmt: skip
    path = tmp_path / "chain.q.npz"
    save_quantized(path, layers, source="synthetic")
    return path
