"""Write examples/digits_mlp.onnx: the built-in default network (the digits MLP of
jaynes_hw/data/default_network.toml) as the ONNX graph a framework would export for it,
Gemm -> Relu -> Gemm, float32. Needs onnx (in jaynes-hw[dev]).

    python scripts/export_digits_onnx.py
"""

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.onnx"

if __name__ == "__main__":
    data = resources.files("jaynes_hw") / "data"
    network = tomllib.loads((data / "default_network.toml").read_text())
    with resources.as_file(data / network["source"]) as source:
        params = {name: array.astype(np.float32) for name, array in np.load(source).items()}
    nodes, initializers, current = [], [], "pixels"
    for index, layer in enumerate(network["layer"]):
        last = index == len(network["layer"]) - 1
        output = "logits" if last else f"hidden{index}"
        gemm_output = f"fc{index}" if layer["relu"] else output
        inputs = [current, layer["weight"], layer["bias"]]
        nodes.append(helper.make_node("Gemm", inputs, [gemm_output], name=f"fc{index}", transB=1))
        if layer["relu"]:
            nodes.append(helper.make_node("Relu", [gemm_output], [output], name=f"relu{index}"))
        initializers += [
            numpy_helper.from_array(params[layer[key]], layer[key]) for key in ("weight", "bias")
        ]
        current = output
    n_in = params[network["layer"][0]["weight"]].shape[1]
    n_out = params[network["layer"][-1]["weight"]].shape[0]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_out])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(OUT))
