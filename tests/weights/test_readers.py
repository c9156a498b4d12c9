"""Every loader round-trips files written by the format's own library; bad files fail clearly."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest

from jaynes_hw.support import extras
from jaynes_hw.support.errors import UserError
from jaynes_hw.weights import detect_format, iter_tensors
from tests.helpers import writers


def read_all(path) -> dict[str, np.ndarray]:
    return {t.name: t.load() for t in iter_tensors(path) if t.skip_reason is None}


def assert_same(loaded: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(loaded) == set(expected)
    for name, array in expected.items():
        assert loaded[name].shape == array.shape, name
        assert np.array_equal(loaded[name], np.asarray(array, np.float32)), name


def floats(model: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: array for name, array in model.items() if array.dtype.kind == "f"}


def test_npz(tmp_path, small_model):
    path = tmp_path / "model.npz"
    np.savez(path, **small_model)
    assert detect_format(path) == "npz"
    assert_same(read_all(path), floats(small_model))
    skipped = {t.name: t.skip_reason for t in iter_tensors(path)}
    assert skipped["position_ids"] == "not a floating-point tensor"


def test_npy_is_memory_mapped(tmp_path, small_model):
    path = tmp_path / "fc2.npy"
    np.save(path, small_model["fc2.weight"])
    (tensor,) = iter_tensors(path)
    assert isinstance(tensor.reader(), np.memmap)
    assert_same({tensor.name: tensor.load()}, {"fc2": small_model["fc2.weight"]})


def test_safetensors_float32_and_float16(tmp_path, small_model):
    tensors = floats(small_model) | {"half": small_model["fc2.weight"].astype(np.float16)}
    path = writers.write_safetensors(tmp_path / "model.safetensors", tensors)
    loaded = read_all(path)
    assert np.array_equal(loaded["half"], tensors["half"].astype(np.float32))
    assert_same({k: v for k, v in loaded.items() if k != "half"}, floats(small_model))


def test_safetensors_bf16(tmp_path, small_model):
    path = writers.write_safetensors_bf16(tmp_path / "model.safetensors", floats(small_model))
    tensors = {t.name: t for t in iter_tensors(path)}
    assert tensors["fc1.weight"].stored_dtype == "BF16"
    expected = {name: writers.bf16_round(array) for name, array in floats(small_model).items()}
    assert_same({name: t.load() for name, t in tensors.items()}, expected)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch not installed (pip install 'jaynes-hw[torch]'); CI has it",
)
def test_safetensors_bf16_written_by_torch(tmp_path, small_model):
    import torch
    from safetensors.torch import save_file

    tensors = {
        name: torch.from_numpy(array).to(torch.bfloat16)
        for name, array in floats(small_model).items()
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    expected = {name: tensor.to(torch.float32).numpy() for name, tensor in tensors.items()}
    assert_same(read_all(path), expected)


def test_sharded_safetensors_by_index_and_by_folder(tmp_path, small_model):
    model = floats(small_model)
    names = list(model)
    index = writers.write_sharded_safetensors(
        tmp_path, [{names[0]: model[names[0]]}, {name: model[name] for name in names[1:]}]
    )
    assert_same(read_all(index), model)
    assert_same(read_all(tmp_path), model)


def test_onnx(tmp_path, small_model):
    path = writers.write_onnx(tmp_path / "model.onnx", floats(small_model))
    assert_same(read_all(path), floats(small_model))


def test_tflite_float_and_dequantized_int8(tmp_path, small_model):
    weights = small_model["fc2.weight"]
    scales = np.abs(weights).max(axis=1) / 127
    quantized = np.round(weights / scales[:, None]).astype(np.int8)
    path = writers.write_tflite(
        tmp_path / "model.tflite",
        {
            "dense/float": (small_model["fc1.weight"], None),
            "dense/half": (weights.astype(np.float16), None),
            "dense/int8": (
                quantized,
                {"scale": scales.tolist(), "zero_point": [0] * len(scales), "axis": 0},
            ),
        },
    )
    loaded = read_all(path)
    assert np.array_equal(loaded["dense/float"], small_model["fc1.weight"])
    assert np.array_equal(loaded["dense/half"], weights.astype(np.float16).astype(np.float32))
    expected = quantized.astype(np.float32) * scales.astype(np.float32)[:, None]
    assert np.allclose(loaded["dense/int8"], expected, rtol=1e-6, atol=0)
    assert np.abs(loaded["dense/int8"] - weights).max() <= scales.max() / 2 * 1.0001


def test_gguf(tmp_path, small_model):
    tensors = {
        "blk.0.w": small_model["fc1.weight"],
        "blk.1.w": small_model["fc2.weight"].astype(np.float16),
    }
    path = writers.write_gguf(tmp_path / "model.gguf", tensors)
    assert_same(read_all(path), tensors)


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch not installed (pip install 'jaynes-hw[torch]'); CI has it",
)
@pytest.mark.parametrize("nested", [False, True])
def test_torch_state_dict(tmp_path, small_model, nested):
    path = writers.write_torch(tmp_path / "model.pt", floats(small_model), nested=nested)
    loaded = read_all(path)
    prefix = "state_dict." if nested else ""
    assert_same({k.removeprefix(prefix): v for k, v in loaded.items()}, floats(small_model))


def test_unknown_format(tmp_path):
    path = tmp_path / "weights.xyz"
    path.write_bytes(b"hello, not weights")
    with pytest.raises(UserError, match="unknown weight file format"):
        detect_format(path)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "model.safetensors"
    empty.touch()
    with pytest.raises(UserError, match="empty"):
        list(iter_tensors(empty))
    with pytest.raises(UserError, match="no such file"):
        list(iter_tensors(tmp_path / "missing.npz"))


@pytest.mark.parametrize("suffix", ["safetensors", "npz", "npy", "onnx", "tflite", "gguf"])
def test_truncated_files_fail_with_one_clear_error(tmp_path, small_model, suffix):
    path = tmp_path / f"model.{suffix}"
    model = floats(small_model)
    write = {
        "safetensors": lambda: writers.write_safetensors(path, model),
        "npz": lambda: np.savez(path, **model),
        "npy": lambda: np.save(path, model["fc1.weight"]),
        "onnx": lambda: writers.write_onnx(path, model),
        "tflite": lambda: writers.write_tflite(path, {"w": (model["fc1.weight"], None)}),
        "gguf": lambda: writers.write_gguf(path, model),
    }[suffix]
    write()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=str(path.name)):
        for tensor in iter_tensors(path):
            if tensor.skip_reason is None:
                tensor.load()


def test_corrupt_safetensors_header(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((20).to_bytes(8, "little") + b"{not json at all!!!}" + b"\0" * 64)
    with pytest.raises(UserError, match="corrupt safetensors header"):
        list(iter_tensors(path))


def test_missing_extra_names_the_extra(monkeypatch, tmp_path):
    real_import = importlib.import_module

    def no_onnx(name, *args):
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args)

    monkeypatch.setattr(extras.importlib, "import_module", no_onnx)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(UserError, match=r"pip install 'jaynes-hw\[onnx\]'"):
        list(iter_tensors(path))
