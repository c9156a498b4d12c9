"""`jaynes-hw import`: ONNX graphs into network descriptions, checked against ONNX Runtime,
against the hand-written TOML of the default network, and on bad models."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.model import import_onnx

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

from tests.helpers.onnx_graphs import save_graph  # noqa: E402

onnxruntime = pytest.importorskip("onnxruntime")


def _save(path, nodes, initializers, n_in, n_out, input_dims=None):
    return save_graph(path, nodes, initializers, input_dims or ["batch", n_in], ["batch", n_out])


def _mlp(path, rng):
    """Gemm(transB) -> BatchNorm -> Relu -> Dropout -> MatMul + Add (bias first) -> Softmax."""
    w1 = rng.standard_normal((12, 20)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(12).astype(np.float32)
    w2 = rng.standard_normal((12, 5)).astype(np.float32) * 0.3  # MatMul: (in, out)
    b2 = rng.standard_normal(5).astype(np.float32)
    bn = {
        "g": rng.uniform(0.5, 2, 12).astype(np.float32),
        "beta": rng.standard_normal(12).astype(np.float32),
        "m": rng.standard_normal(12).astype(np.float32),
        "v": rng.uniform(0.5, 2, 12).astype(np.float32),
    }
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1", transB=1, alpha=0.5),
        helper.make_node("BatchNormalization", ["h1", "g", "beta", "m", "v"], ["h2"], name="bn1"),
        helper.make_node("Relu", ["h2"], ["h3"], name="relu1"),
        helper.make_node("Dropout", ["h3"], ["h4"], name="drop"),
        helper.make_node("MatMul", ["h4", "w2"], ["h5"], name="fc2"),
        helper.make_node("Add", ["b2", "h5"], ["h6"], name="bias2"),
        helper.make_node("Softmax", ["h6"], ["y"], name="softmax"),
    ]
    initializers = {"w1": w1, "b1": b1, "w2": w2, "b2": b2, **bn}
    return _save(path, nodes, initializers, 20, 5)


def test_an_mlp_imports_to_the_float_model_onnx_runtime_computes(tmp_path):
    rng = np.random.default_rng(0)
    path = _mlp(tmp_path / "mlp.onnx", rng)
    model = import_onnx(path)
    assert [(layer.n_in, layer.n_out, layer.relu) for layer in model.layers] == [
        (20, 12, True),
        (12, 5, False),
    ]
    assert model.removed == ["Dropout", "Softmax"]
    x = rng.standard_normal((64, 20)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"x": x})[0]
    logits = model.forward(x)
    # the Softmax was removed: the logits give ONNX Runtime's probabilities, to float32 rounding
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        shifted / shifted.sum(1, keepdims=True), probabilities, rtol=1e-5, atol=1e-6
    )


def test_the_command_writes_a_description_the_generator_builds(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = _mlp(tmp_path / "mlp.onnx", rng)
    np.save(tmp_path / "calib.npy", rng.standard_normal((32, 20)).astype(np.float32))
    out = tmp_path / "net.toml"
    assert (
        main(["import", str(path), "--out", str(out), "--inputs", str(tmp_path / "calib.npy")]) == 0
    )
    printed = capsys.readouterr().out
    assert "2 dense layers (20 -> 12 -> 5); removed Dropout, Softmax" in printed
    document = tomllib.loads(out.read_text())
    assert document["source"] == "net.npz" and document["calibration"] == "net.calibration.npy"
    calibration = np.load(tmp_path / "net.calibration.npy")
    assert calibration.shape == (32, 20) and np.abs(calibration).max() == 127
    weights = np.load(tmp_path / "net.npz")
    model = import_onnx(path)
    np.testing.assert_array_equal(weights["layer0.weight"], model.layers[0].weight)
    assert [layer["relu"] for layer in document["layer"]] == [True, False]
    rtl = tmp_path / "rtl"
    assert main(["generate", "--config", str(out), "--out", str(rtl)]) == 0
    assert (rtl / "mlp.v").exists() and (rtl / "mlp.json").exists()
    # import and generate in one step: the same Verilog (no calibration: data-free shifts)
    out.unlink()
    assert main(["import", str(path), "--out", str(out)]) == 0
    assert main(["generate", "--config", str(out), "--out", str(tmp_path / "a")]) == 0
    assert main(["generate", "--model", str(path), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "mlp.v").read_text() == (tmp_path / "b" / "mlp.v").read_text()
    assert '"model": "mlp.onnx"' in (tmp_path / "b" / "mlp.json").read_text()


def test_the_shipped_digits_onnx_imports_to_the_hand_written_default_network(tmp_path):
    """examples/digits_mlp.onnx (scripts/export_digits_onnx.py) against the weights, biases
    and ReLUs jaynes_hw/data/default_network.toml names, and against ONNX Runtime on the
    digits test split."""
    from importlib import resources

    from tests.helpers.paths import REPOSITORY

    path = REPOSITORY / "examples" / "digits_mlp.onnx"
    data = resources.files("jaynes_hw") / "data"
    toml = tomllib.loads((data / "default_network.toml").read_text())
    with resources.as_file(data / toml["source"]) as source:
        params = dict(np.load(source))
    model = import_onnx(path)
    assert len(model.layers) == len(toml["layer"])
    for imported, layer in zip(model.layers, toml["layer"], strict=True):
        np.testing.assert_array_equal(imported.weight, params[layer["weight"]].astype(np.float32))
        np.testing.assert_array_equal(imported.bias, params[layer["bias"]].astype(np.float32))
        assert imported.relu == layer["relu"]
    x = np.load(REPOSITORY / "examples" / "digits_test_inputs.npy").astype(np.float32) / 127
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"pixels": x})
    np.testing.assert_allclose(model.forward(x), logits, rtol=1e-5, atol=1e-5)


def test_a_scikit_learn_mlp_exported_by_skl2onnx_imports_to_its_coefficients(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 8)).astype(np.float32)
    y = x[:, 0] * 2 - np.abs(x[:, 1])
    # a few iterations are enough: the test is about the export, not the fit
    regressor = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=2000, tol=1e-2, random_state=0)
    regressor.fit(x, y)
    exported = skl2onnx.to_onnx(regressor, x[:1], target_opset=17)
    path = tmp_path / "sk.onnx"
    path.write_bytes(exported.SerializeToString())
    model = import_onnx(path)
    assert [(layer.n_in, layer.n_out, layer.relu) for layer in model.layers] == [
        (8, 16, True),
        (16, 8, True),
        (8, 1, False),
    ]
    for layer, weight, bias in zip(
        model.layers, regressor.coefs_, regressor.intercepts_, strict=True
    ):
        np.testing.assert_allclose(layer.weight, weight.T.astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(layer.bias, bias.astype(np.float32), rtol=1e-6)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (from_runtime,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(model.forward(x), from_runtime, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.forward(x)[:, 0], regressor.predict(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "case, message",
    [
        ("tanh", "(Tanh) is not supported (supported: Gemm"),
        ("dynamic", "has a dynamic dimension (features)"),
        ("int_weight", "is INT64, not floating point"),
        ("branch", "does not take the previous node's output"),
        ("activation_product", "must be a weight initializer"),
        ("shape", "does not take the 20 features before it"),
    ],
)
def test_a_graph_it_cannot_build_is_one_line_and_nothing_is_written(
    tmp_path, capsys, case, message
):
    w = np.ones((4, 20), np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    initializers = {"w": w}
    dims = None
    if case == "tanh":
        nodes = [helper.make_node("Tanh", ["x"], ["y"], name="tanh")]
    elif case == "dynamic":
        dims = ["batch", "features"]
    elif case == "int_weight":
        initializers = {"w": w.astype(np.int64)}
    elif case == "branch":
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
            helper.make_node("Gemm", ["x", "w"], ["y"], name="fc_again", transB=1),
        ]
    elif case == "activation_product":
        nodes = [helper.make_node("MatMul", ["x", "x"], ["y"], name="square")]
    elif case == "shape":
        initializers = {"w": np.ones((4, 7), np.float32)}
    path = save_graph(
        tmp_path / "bad.onnx", nodes, initializers, dims or ["batch", 20], checked=False
    )
    assert main(["import", str(path), "--out", str(tmp_path / "net.toml")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and str(path) in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_a_file_that_is_not_onnx_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf \xff\xff")
    assert main(["import", str(bad)]) == 1
    assert "not a readable ONNX model" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.onnx")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_the_shipped_onnx_with_calibration_builds_the_default_networks_arithmetic(tmp_path):
    """Imported with the default network's 64 calibration images as float inputs, the ONNX
    model generates a design whose integer outputs equal the built-in default's, bit for
    bit, on the whole digits test split (same input scale, same shifts, same codebooks)."""
    from jaynes_hw.contract.design import Design
    from jaynes_hw.demo.digits import CALIBRATION_IMAGES, load_digits_split
    from tests.helpers.paths import REPOSITORY

    np.save(tmp_path / "calib.npy", load_digits_split().x_train[:CALIBRATION_IMAGES])
    toml = tmp_path / "digits.toml"
    model = REPOSITORY / "examples" / "digits_mlp.onnx"
    assert (
        main(["import", str(model), "--out", str(toml), "--inputs", str(tmp_path / "calib.npy")])
        == 0
    )
    assert main(["generate", "--config", str(toml), "--out", str(tmp_path / "imported")]) == 0
    assert main(["generate", "--out", str(tmp_path / "default")]) == 0
    x = np.load(REPOSITORY / "examples" / "digits_test_inputs.npy")
    imported = Design.from_manifest(tmp_path / "imported" / "digits_mlp.json").forward(x)
    default = Design.from_manifest(tmp_path / "default" / "digits_mlp.json").forward(x)
    np.testing.assert_array_equal(imported, default)


def test_a_pytorch_sequential_mlp_imports_to_its_own_parameters(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch not installed; CI has it")
    pytest.importorskip("onnxscript")
    from jaynes_hw.model import from_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 12),
        torch.nn.BatchNorm1d(12),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(12, 5),
    )
    with torch.no_grad():  # running statistics that are not the identity
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(32, 20)
    model = from_torch(net, x[:1], tmp_path / "net.toml", inputs=x.numpy())
    assert [(layer.n_in, layer.n_out, layer.relu) for layer in model.layers] == [
        (20, 12, True),
        (12, 5, False),
    ]
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(model.forward(x.numpy()), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.layers[1].weight, net[4].weight.detach().numpy(), rtol=1e-6)
    assert (tmp_path / "net.npz").exists() and (tmp_path / "net.calibration.npy").exists()
    with pytest.raises(Exception, match="training mode"):
        from_torch(net.train(), x[:1])
