"""`analyze --activations`: the neuron-output populations of an ONNX model (float) and of a
generated design (the bit-exact integer outputs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.contract.design import Design
from tests.helpers.paths import REPOSITORY

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _identity_layer(path, width: int):
    """One Gemm whose weights are the identity: its outputs are its inputs."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(np.eye(width, dtype=np.float32), "w")],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_lognormal_outputs_are_fitted_as_lognormal_with_their_parameters(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(-1.0, 0.5, (4000, 50))).astype(np.float32)
    x[:, ::2] *= -1  # negative outputs are not part of the population
    np.save(tmp_path / "x.npy", x)
    model = _identity_layer(tmp_path / "identity.onnx", 50)
    out = tmp_path / "a.json"
    args = ["analyze", "--activations", str(model), "--inputs", str(tmp_path / "x.npy")]
    assert main([*args, "--json", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:2] == ["layer", "outputs"]  # the count column counts outputs, not weights
    (layer,) = json.loads(out.read_text())["layers"]
    assert layer["name"] == "layer0.outputs" and layer["count"] == 4000 * 25
    assert layer["mle"]["mu_raw"] == pytest.approx(-1.0, abs=0.02)
    assert layer["mle"]["sigma"] == pytest.approx(0.5, abs=0.02)
    assert layer["null"]["verdict"] == "lognormal"


def test_a_generated_designs_integer_outputs_are_analysed_through_the_reference(tmp_path):
    assert main(["generate", "--out", str(tmp_path)]) == 0
    manifest = tmp_path / "digits_mlp.json"
    inputs = REPOSITORY / "examples" / "digits_test_inputs.npy"
    out = tmp_path / "a.json"
    assert (
        main(
            ["analyze", "--activations", str(manifest), "--inputs", str(inputs), "--json", str(out)]
        )
        == 0
    )
    document = json.loads(out.read_text())
    design = Design.from_manifest(manifest)
    hidden = design.layers[0].forward(np.load(inputs).astype(np.int64))
    logits = design.layers[1].forward(hidden)
    counts = [layer["count"] for layer in document["layers"]]
    assert counts == [int((hidden > 0).sum()), int((logits > 0).sum())]
    assert document["format"] == "design outputs"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--activations", "MODEL"], "--activations takes a model and --inputs"),
        (["w.npz", "--activations", "MODEL", "--inputs", "X"], "and no weight files"),
        ([], "name at least one weight file"),
        (["--activations", "MODEL", "--inputs", "BAD"], "takes (N, 50)"),
    ],
)
def test_bad_activation_requests_are_one_line(tmp_path, capsys, arguments, message):
    model = _identity_layer(tmp_path / "identity.onnx", 50)
    np.save(tmp_path / "bad.npy", np.ones((3, 7), np.float32))
    replaced = [
        {"MODEL": str(model), "BAD": str(tmp_path / "bad.npy"), "X": str(tmp_path / "bad.npy")}.get(
            a, a
        )
        for a in arguments
    ]
    assert main(["analyze", *replaced]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
