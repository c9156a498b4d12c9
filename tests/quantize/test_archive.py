"""The quantized file: round trip, and a file that is not one."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.quantize import quantize_layer
from jaynes_hw.quantize.archive import load_quantized, save_quantized
from jaynes_hw.support.errors import UserError
from tests.helpers.populations import lognormal_weights


def test_quantized_file_round_trip(tmp_path):
    layers = [
        quantize_layer("a", lognormal_weights((30, 40), -3, 1), "lognormal", 4),
        quantize_layer("b", lognormal_weights((20, 30), -2, 1), "pow2", 4, per_channel=True),
    ]
    path = tmp_path / "q.npz"
    save_quantized(path, layers, source="model.npz")
    meta, loaded = load_quantized(path)
    assert meta["source"] == "model.npz" and [layer.name for layer in loaded] == ["a", "b"]
    for original, copy in zip(layers, loaded, strict=True):
        assert np.array_equal(original.codes, copy.codes)
        assert np.array_equal(original.codebook.levels, copy.codebook.levels)
        assert np.array_equal(original.dequantize(), copy.dequantize())


def test_loading_a_file_that_is_not_quantized(tmp_path):
    path = tmp_path / "q.npz"
    np.savez(path, x=np.ones(3))
    with pytest.raises(UserError, match="not a valid jaynes-hw quantized file"):
        load_quantized(path)
