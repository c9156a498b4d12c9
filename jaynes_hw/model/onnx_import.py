"""Dense networks from ONNX graphs: the chain of layers the generator builds.

``import_onnx(path)`` walks the graph from its one input to its one output and returns the
float layers it computes, each y = x W^T + b, optionally followed by ReLU:

- ``Gemm`` (transA 0, transB 0 or 1, alpha and beta folded in), ``MatMul`` by a weight
  initializer, and ``Add`` of a bias initializer right after either;
- ``BatchNormalization`` right after a layer, folded into its weights and bias
  (w' = w g / sqrt(v + eps), b' = (b - m) g / sqrt(v + eps) + beta);
- ``Relu`` after a layer;
- ``Flatten`` (axis 1) and ``Reshape`` to (batch, features); ``Identity``, ``Dropout``
  (inference: the identity) and ``Cast`` to float32 (of float32 inputs, as skl2onnx writes)
  are removed, and so is a final ``Softmax`` / ``LogSoftmax`` (monotonic: the hardware's
  logits pick the same class).

Anything else (convolution, pooling and branches are not supported yet) is refused with one
line naming the node, its operator and what is supported; so are a shape other than the batch
dimension left dynamic, a weight that is not a float initializer, and a graph whose nodes do
not form one chain from the input to the output. Shapes are checked at every step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra

SUPPORTED = (
    "Gemm, MatMul, Add (bias), BatchNormalization (after a layer), Relu, Flatten, Reshape, "
    "Identity, Dropout, Cast to float, a final Softmax/LogSoftmax"
)
PASS_THROUGH = ("Identity", "Dropout")
FINAL_ONLY = ("Softmax", "LogSoftmax")


@dataclass
class DenseLayer:
    """y = x @ weight.T + bias, then ReLU when ``relu``; float32, weight (n_out, n_in)."""

    weight: np.ndarray
    bias: np.ndarray
    relu: bool = False
    nodes: list[str] = field(default_factory=list)  # the ONNX nodes folded into it

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]


@dataclass
class ImportedModel:
    """The layers of an imported graph, the nodes removed, and the input's shape."""

    name: str
    layers: list[DenseLayer]
    input_shape: tuple[int, ...]  # without the batch dimension
    removed: list[str] = field(default_factory=list)

    @property
    def shape_text(self) -> str:
        """The widths along the chain, ``"64 -> 32 -> 10"``."""
        widths = [self.layers[0].n_in] + [layer.n_out for layer in self.layers]
        return " -> ".join(map(str, widths))

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Each layer's outputs (after its ReLU, if any) on ``x`` (batch, *input_shape), in
        float32 like ONNX Runtime."""
        activation = np.asarray(x, np.float32).reshape(len(x), -1)
        outputs = []
        for layer in self.layers:
            activation = activation @ layer.weight.T + layer.bias
            if layer.relu:
                activation = np.maximum(activation, 0)
            outputs.append(activation)
        return outputs

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The float model's outputs on ``x`` (batch, *input_shape)."""
        return self.layer_outputs(x)[-1]


def import_onnx(path: str | Path) -> ImportedModel:
    """Read an ONNX model's dense chain (see the module docstring); raises ``UserError``."""
    onnx = require_extra("onnx", "onnx", "importing ONNX models")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as error:  # protobuf's DecodeError, truncated files, bad external data
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: not a readable ONNX model ({detail})") from None
    try:
        return _walk(onnx, model, module_name(path.stem))
    except UserError as error:
        raise UserError(f"{path}: {error}") from None


def _walk(onnx, model, name: str) -> ImportedModel:
    from onnx import numpy_helper

    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = attribute.t
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UserError(
            f"the graph must have one input and one output, not {len(inputs)} and "
            f"{len(graph.output)}"
        )
    features_shape = _static_shape(inputs[0])
    current = inputs[0].name
    features = math.prod(features_shape)
    flat = len(features_shape) == 1
    layers: list[DenseLayer] = []
    removed: list[str] = []
    open_layer = False  # the last node was a layer (or its bias / batch norm), not yet ReLU'd

    def constant_of(node, index: int):
        if index >= len(node.input) or node.input[index] not in constants:
            raise UserError(
                f"node {node.name or node.op_type} ({node.op_type}): input {index} must be a "
                "weight initializer (a product of two activations is not supported)"
            )
        return constants[node.input[index]]

    def weight_of(node, index: int) -> np.ndarray:
        tensor = constant_of(node, index)
        if tensor.data_type not in (
            onnx.TensorProto.FLOAT,
            onnx.TensorProto.FLOAT16,
            onnx.TensorProto.DOUBLE,
        ):
            kind = onnx.TensorProto.DataType.Name(tensor.data_type)
            raise UserError(
                f"node {node.name or node.op_type} ({node.op_type}): weight {tensor.name!r} is "
                f"{kind}, not floating point"
            )
        return numpy_helper.to_array(tensor).astype(np.float64)

    nodes = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in constants:
            constants[node.output[0]] = constants[node.input[0]]  # an alias of a weight
        elif node.op_type != "Constant":
            nodes.append(node)
    for position, node in enumerate(nodes):
        label = f"node {node.name or position} ({node.op_type})"
        chained = (
            current in node.input[:2] if node.op_type == "Add" else node.input[:1] == [current]
        )
        if not chained:
            raise UserError(
                f"{label} does not take the previous node's output: the graph is not one chain "
                "(branches and skip connections are not supported)"
            )
        attributes = {attribute.name: onnx.helper.get_attribute_value(attribute)
                      for attribute in node.attribute}  # fmt: skip
        op = node.op_type
        if op in PASS_THROUGH:
            removed.append(op)
        elif op in FINAL_ONLY:
            if position != len(nodes) - 1:
                raise UserError(f"{label}: only a final {op} can be removed")
            removed.append(op)
        elif op == "Cast":
            if attributes.get("to") != onnx.TensorProto.FLOAT:
                raise UserError(f"{label}: only a cast to float32 (a no-op here) is supported")
            removed.append(op)
        elif op == "Flatten":
            if attributes.get("axis", 1) != 1:
                raise UserError(f"{label}: only axis 1 (keep the batch) is supported")
            flat = True
        elif op == "Reshape":
            target = [int(dim) for dim in numpy_helper.to_array(constant_of(node, 1))]
            rest = target[1:]
            if len(target) != 2 or rest[0] not in (-1, features):
                raise UserError(f"{label}: only a reshape to (batch, {features}) is supported")
            flat = True
        elif op in ("Gemm", "MatMul"):
            if not flat:
                raise UserError(
                    f"{label}: its input has shape {list(features_shape)}; flatten it first "
                    "(convolution is not supported yet)"
                )
            weight = weight_of(node, 1)
            if op == "Gemm":
                if attributes.get("transA", 0):
                    raise UserError(f"{label}: transA = 1 is not supported")
                if not attributes.get("transB", 0):
                    weight = weight.T
                weight = weight * attributes.get("alpha", 1.0)
                bias = np.zeros(weight.shape[0])
                if len(node.input) > 2 and node.input[2]:
                    bias = weight_of(node, 2).reshape(-1) * attributes.get("beta", 1.0)
            else:
                weight = weight.T
                bias = np.zeros(weight.shape[0])
            if weight.ndim != 2 or weight.shape[1] != features:
                raise UserError(
                    f"{label}: weight of shape {list(weight.shape)} does not take the "
                    f"{features} features before it"
                )
            if bias.shape != (weight.shape[0],):
                raise UserError(f"{label}: bias of shape {list(bias.shape)}, expected "
                                f"({weight.shape[0]},)")  # fmt: skip
            layers.append(DenseLayer(weight, bias, nodes=[node.name or op]))
            features = weight.shape[0]
            open_layer = True
        elif op == "Add" and open_layer:
            other_index = 1 if node.input[0] == current else 0
            other = node.input[other_index]
            bias = weight_of(node, other_index).reshape(-1)
            if bias.shape != (features,):
                raise UserError(f"{label}: adds {other!r} of {bias.size} values to {features}")
            layers[-1].bias = layers[-1].bias + bias
            layers[-1].nodes.append(node.name or op)
        elif op == "BatchNormalization" and open_layer:
            scale, shift, mean, variance = (
                weight_of(node, index).reshape(-1) for index in range(1, 5)
            )
            if any(vector.shape != (features,) for vector in (scale, shift, mean, variance)):
                raise UserError(f"{label}: parameters do not have {features} channels")
            gain = scale / np.sqrt(variance + attributes.get("epsilon", 1e-5))
            layers[-1].weight = layers[-1].weight * gain[:, None]
            layers[-1].bias = (layers[-1].bias - mean) * gain + shift
            layers[-1].nodes.append(node.name or op)
        elif op == "Relu":
            if not layers:
                raise UserError(f"{label}: a ReLU before the first layer is not supported")
            layers[-1].relu = True
            layers[-1].nodes.append(node.name or op)
            open_layer = False
        else:
            raise UserError(f"{label} is not supported (supported: {SUPPORTED})")
        current = node.output[0]
    if current != graph.output[0].name:
        raise UserError(
            f"output {graph.output[0].name!r} is not computed by the chain from the input"
        )
    if not layers:
        raise UserError("the graph has no Gemm or MatMul layer")
    for layer in layers:
        layer.weight = layer.weight.astype(np.float32)
        layer.bias = layer.bias.astype(np.float32)
    return ImportedModel(name, layers, tuple(features_shape), removed)


def module_name(stem: str) -> str:
    """A Verilog-safe top module name from a file name's stem."""
    name = re.sub(r"\W", "_", stem) or "model"
    return f"m_{name}" if name[0].isdigit() else name


def _static_shape(value) -> tuple[int, ...]:
    """The input's shape without its batch dimension; every one of those dims static."""
    dims = value.type.tensor_type.shape.dim
    if len(dims) < 2:
        raise UserError(f"input {value.name!r} must be (batch, features...), not rank {len(dims)}")
    shape = []
    for dim in dims[1:]:
        if not dim.HasField("dim_value") or dim.dim_value <= 0:
            raise UserError(
                f"input {value.name!r} has a dynamic dimension ({dim.dim_param or '?'}); "
                "only the batch dimension may be dynamic"
            )
        shape.append(int(dim.dim_value))
    return tuple(shape)
