"""`jaynes-hw import` of convolutional graphs: the float model agrees with ONNX Runtime (and
PyTorch) to float32 rounding, the description builds, and what cannot be built is refused
with one line."""

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


def _cnn(path, rng):
    """Conv (pads) -> BatchNorm -> MaxPool -> Relu -> Conv (stride 2, SAME_UPPER) -> Relu ->
    GlobalAveragePool -> Flatten -> Gemm, on 1x9x8 images."""
    bn = {
        "g": rng.uniform(0.5, 2, 4), "beta": rng.normal(0, 0.1, 4),
        "m": rng.normal(0, 0.1, 4), "v": rng.uniform(0.5, 2, 4),
    }  # fmt: skip
    initializers = {
        "w1": rng.normal(0, 0.4, (4, 1, 3, 3)), "b1": rng.normal(0, 0.1, 4),
        "w2": rng.normal(0, 0.3, (6, 4, 3, 2)), "b2": rng.normal(0, 0.1, 6),
        "w3": rng.normal(0, 0.3, (5, 6)), "b3": rng.normal(0, 0.1, 5), **bn,
    }  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "m", "v"], ["n1"], name="bn1"),
        helper.make_node("MaxPool", ["n1"], ["p1"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Relu", ["p1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", strides=[2, 1],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g2"], name="gap"),
        helper.make_node("Flatten", ["g2"], ["f2"], name="flatten"),
        helper.make_node("Gemm", ["f2", "w3", "b3"], ["y"], name="fc", transB=1),
    ]  # fmt: skip
    return save_graph(path, nodes, initializers, ["batch", 1, 9, 8], ["batch", 5])


def _onnx_runtime(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_a_cnn_imports_to_the_float_model_onnx_runtime_computes(tmp_path):
    rng = np.random.default_rng(0)
    path = _cnn(tmp_path / "cnn.onnx", rng)
    model = import_onnx(path)
    assert model.kinds_text == "3 layers (2 convolutions)"
    assert model.shape_text == (
        "9x8x1 -> conv 3x3, max pool 2x2 -> 4x4x4 -> conv 3x2, average pool 2x4 -> 1x1x6 -> 5"
    )
    assert [layer.relu for layer in model.layers] == [True, True, False]
    second = model.layers[1].window
    assert (second.stride_y, second.stride_x) == (2, 1)
    assert (second.pad_top, second.pad_left, second.pad_bottom, second.pad_right) == (
        0,
        0,
        1,
        1,
    )  # the extra at the end
    x = rng.standard_normal((32, 1, 9, 8)).astype(np.float32)
    np.testing.assert_allclose(model.forward(x), _onnx_runtime(path, x), rtol=1e-5, atol=1e-5)


def test_a_flattened_image_reorders_the_dense_columns_and_a_1d_convolution_imports(tmp_path):
    """Conv1d (3 channels, length 10) -> Relu -> MaxPool -> Flatten -> Gemm: the Gemm's
    columns follow ONNX's (channel, position) order, the hardware's values are channel-last;
    and an output image (no dense layer) comes back in ONNX's order."""
    rng = np.random.default_rng(1)
    initializers = {
        "w1": rng.normal(0, 0.4, (4, 3, 3)), "b1": rng.normal(0, 0.1, 4),
        "w2": rng.normal(0, 0.3, (2, 16)), "b2": rng.normal(0, 0.1, 2),
    }  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 0]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2], strides=[2]),
        helper.make_node("Flatten", ["p1"], ["f1"], name="flatten"),
        helper.make_node("Gemm", ["f1", "w2", "b2"], ["y"], name="fc", transB=1),
    ]
    path = save_graph(tmp_path / "conv1d.onnx", nodes, initializers, ["batch", 3, 10], ["batch", 2])
    model = import_onnx(path)
    assert model.shape_text == "1x10x3 -> conv 1x3, max pool 1x2 -> 1x4x4 -> 2"
    x = rng.standard_normal((16, 3, 10)).astype(np.float32)
    np.testing.assert_allclose(model.forward(x), _onnx_runtime(path, x), rtol=1e-5, atol=1e-5)
    # without the dense layer: the graph's output is the pooled image
    pool = helper.make_node("MaxPool", ["r1"], ["y"], name="pool", kernel_shape=[2], strides=[2])
    image_nodes = [*nodes[:2], pool]
    path = save_graph(
        tmp_path / "image.onnx", image_nodes, initializers, ["batch", 3, 10], ["batch", 4, 4]
    )
    model = import_onnx(path)
    expected = _onnx_runtime(path, x).reshape(len(x), -1)
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-5)


def test_the_imported_cnn_builds_and_its_hardware_follows_the_float_model(tmp_path, capsys):
    from jaynes_hw.contract.design import Design

    rng = np.random.default_rng(2)
    path = _cnn(tmp_path / "cnn.onnx", rng)
    x = rng.standard_normal((200, 1, 9, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "cnn.toml"
    assert (
        main(["import", str(path), "--out", str(out), "--inputs", str(tmp_path / "calib.npy")]) == 0
    )
    assert "imported" in capsys.readouterr().out
    document = tomllib.loads(out.read_text())
    assert document["layer"][0]["conv"] == {
        "height": 9, "width": 8, "channels": 1, "kernel": [3, 3], "stride": [1, 1],
        "padding": [1, 1, 1, 1],
    }  # fmt: skip
    assert document["layer"][1]["pool"] == {"kind": "average", "size": [2, 4], "stride": [2, 4]}
    assert "pool" not in document["layer"][2] and "conv" not in document["layer"][2]
    assert np.load(tmp_path / "cnn.calibration.npy").shape == (200, 72)
    assert main(["generate", "--config", str(out), "--out", str(tmp_path / "rtl")]) == 0
    design = Design.from_manifest(tmp_path / "rtl" / "cnn.json")
    model = import_onnx(path)
    integers = np.load(tmp_path / "cnn.calibration.npy")
    hardware = design.forward(integers) * design.manifest.layers[-1].output_scale
    float_outputs = model.forward(x)
    # 4-bit codes and 8-bit activations: the hardware's real outputs follow the float model
    correlation = np.corrcoef(hardware.ravel(), float_outputs.ravel())[0, 1]
    assert correlation > 0.9, correlation


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("grouped", "grouped and depthwise convolutions are not supported"),
        ("padded_pool", "padded pooling is not supported"),
        ("relu_after_average", "a ReLU after an average pooling is not supported"),
        ("pool_after_dense", "a pooling must follow a convolution"),
        ("dilated", "dilations other than 1 are not supported"),
        ("dense_on_image", "its input is a 2x6x6 image; flatten it first"),
        ("conv_on_features", "its input is not an image"),
    ],
)
def test_a_convolution_it_cannot_build_is_one_line_and_nothing_is_written(
    tmp_path, capsys, case, message
):
    w = np.ones((2, 1, 3, 3))
    initializers = {"w": w}
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv")
    dims, nodes = ["batch", 1, 8, 8], [conv, helper.make_node("Relu", ["c"], ["y"], name="r")]
    if case == "grouped":
        initializers = {"w": np.ones((2, 1, 3, 3))}
        dims = ["batch", 2, 8, 8]
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=2)]
    elif case == "padded_pool":
        nodes[1] = helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    elif case == "relu_after_average":
        nodes = [
            conv,
            helper.make_node("AveragePool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Relu", ["p"], ["y"]),
        ]
    elif case == "pool_after_dense":
        initializers = {"w": np.ones((4, 64))}
        dims = ["batch", 64]
        nodes = [
            helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
            helper.make_node("MaxPool", ["h"], ["y"], kernel_shape=[2]),
        ]
    elif case == "dilated":
        nodes[0] = helper.make_node("Conv", ["x", "w"], ["c"], dilations=[2, 2])
    elif case == "dense_on_image":
        initializers["w2"] = np.ones((3, 72))
        nodes[1] = helper.make_node("Gemm", ["c", "w2"], ["y"], transB=1)
    elif case == "conv_on_features":
        dims = ["batch", 64]
    path = save_graph(tmp_path / "bad.onnx", nodes, initializers, dims, checked=False)
    assert main(["import", str(path), "--out", str(tmp_path / "net.toml")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and str(path) in error, error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_a_pytorch_cnn_imports_to_what_pytorch_computes(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch not installed; CI has it")
    pytest.importorskip("onnxscript")
    from jaynes_hw.model import from_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 2 * 2, 10),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(24, 1, 8, 8)
    model = from_torch(net, x[:1], tmp_path / "cnn.toml", inputs=x.numpy())
    assert model.shape_text == "8x8x1 -> conv 3x3, max pool 2x2 -> 4x4x4 -> conv 3x3 -> 2x2x6 -> 10"
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(model.forward(x.numpy()), expected, rtol=1e-4, atol=1e-5)
    assert (
        main(["generate", "--config", str(tmp_path / "cnn.toml"), "--out", str(tmp_path / "rtl")])
        == 0
    )
