"""Networks from ONNX graphs: the chain of layers the generator builds.

``import_onnx(path)`` walks the graph from its one input to its one output and returns the
float layers it computes, each y = x W^T + b (a convolution: at every position of its
image, over the receptive field), optionally followed by ReLU and, after a convolution,
pooling:

- ``Gemm`` (transA 0, transB 0 or 1, alpha and beta folded in), ``MatMul`` by a weight
  initializer, and ``Add`` of a bias initializer right after either;
- ``Conv`` (1-D and 2-D; strides, pads or ``auto_pad``; dilation 1, groups 1) on an image
  input ``(batch, channels, height, width)`` or ``(batch, channels, length)``;
- ``BatchNormalization`` right after a layer, folded into its weights and bias
  (w' = w g / sqrt(v + eps), b' = (b - m) g / sqrt(v + eps) + beta);
- ``Relu`` after a layer (or after its max pooling, with which it commutes);
- ``MaxPool`` and ``AveragePool`` (no padding, ``ceil_mode`` 0) and ``GlobalAveragePool``
  right after a convolution (and its ReLU);
- ``Flatten`` (axis 1) and ``Reshape`` to (batch, features); ``Identity``, ``Dropout``
  (inference: the identity) and ``Cast`` to float32 (of float32 inputs, as skl2onnx writes)
  are removed, and so is a final ``Softmax`` / ``LogSoftmax`` (monotonic: the hardware's
  logits pick the same class).

The hardware takes images channel-last (``ImportedModel.hardware_inputs``), so a dense
layer after a flattened image gets its columns reordered from ONNX's (channel, row,
column) to (row, column, channel); ``forward`` gives the outputs in ONNX's own order.

Anything else (depthwise or grouped convolution, padded pooling, branches) is refused with
one line naming the node, its operator and what is supported; so are a shape other than the
batch dimension left dynamic, a weight that is not a float initializer, and a graph whose
nodes do not form one chain from the input to the output. Shapes are checked at every step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaynes_hw.contract.geometry import Convolution, ConvWindow, Pooling, chain_text
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra

SUPPORTED = (
    "Gemm, MatMul, Add (bias), Conv, BatchNormalization (after a layer), Relu, MaxPool, "
    "AveragePool, GlobalAveragePool (after a convolution), Flatten, Reshape, Identity, "
    "Dropout, Cast to float, a final Softmax/LogSoftmax"
)
PASS_THROUGH = ("Identity", "Dropout")
FINAL_ONLY = ("Softmax", "LogSoftmax")
POOLS = {"MaxPool": "max", "AveragePool": "average", "GlobalAveragePool": "average"}


@dataclass
class ImportedLayer:
    """One layer in float32: dense, y = x @ weight.T + bias, or a convolution of ``window``
    (``weight`` (O, C, KH, KW) as ONNX holds it; a 1-D kernel has KH = 1) followed by
    ``pooling``; then ReLU when ``relu`` (before the pooling: they commute for max, and an
    average pooling only follows a ReLU)."""

    weight: np.ndarray
    bias: np.ndarray
    relu: bool = False
    nodes: list[str] = field(default_factory=list)  # the ONNX nodes folded into it
    window: ConvWindow | None = None
    pooling: Pooling | None = None

    @property
    def n_in(self) -> int:
        """Inputs of one output: the dense layer's, or the receptive field's size."""
        return self.weight.shape[1] if self.window is None else self.window.window_size

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def convolution(self) -> Convolution | None:
        return None if self.window is None else Convolution(self.window, self.pooling)

    def dense_weight(self) -> np.ndarray:
        """(n_out, n_in): a convolution's weight in the window's order (row, column,
        channel)."""
        if self.window is None:
            return self.weight
        return self.weight.transpose(0, 2, 3, 1).reshape(self.n_out, -1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs (batch, values_out) of inputs (batch, values in), channel-last, float32."""
        if self.window is None:
            out = x @ self.weight.T + self.bias
            return np.maximum(out, 0) if self.relu else out
        fields = self.window.windows(x)
        out = fields @ self.dense_weight().T + self.bias
        out = (np.maximum(out, 0) if self.relu else out).reshape(len(x), -1)
        if self.pooling is None:
            return out
        pooling = self.pooling
        pooled = pooling.window.windows(out).reshape(
            -1, pooling.size_y * pooling.size_x, pooling.channels
        )
        pooled = pooled.max(axis=1) if pooling.kind == "max" else pooled.mean(axis=1)
        return pooled.reshape(len(x), -1).astype(np.float32)


@dataclass
class ImportedModel:
    """The layers of an imported graph, the nodes removed, and the input's shape.

    ``output_image`` is (channels, height, width) when the graph's output is an image or a
    flattened one (its values leave the hardware channel-last), else None.
    """

    name: str
    layers: list[ImportedLayer]
    input_shape: tuple[int, ...]  # without the batch dimension
    removed: list[str] = field(default_factory=list)
    output_image: tuple[int, int, int] | None = None

    @property
    def shape_text(self) -> str:
        """The values along the chain, images as height x width x channels:
        ``"8x8x1 -> conv 3x3, max pool 2x2 -> 4x4x8 -> 10"``."""
        return chain_text([(layer.n_in, layer.n_out, layer.convolution) for layer in self.layers])

    @property
    def kinds_text(self) -> str:
        """``"3 layers (2 convolutions)"`` or ``"2 dense layers"``."""
        convolutions = sum(layer.window is not None for layer in self.layers)
        if not convolutions:
            return f"{len(self.layers)} dense layers"
        return f"{len(self.layers)} layers ({convolutions} convolution{'s' * (convolutions > 1)})"

    def hardware_inputs(self, x: np.ndarray) -> np.ndarray:
        """Inputs ``x`` (batch, *input_shape) in the order the hardware takes them, (batch,
        values): images channel-last (row, column, channel) when the first layer is a
        convolution, otherwise flattened as they are."""
        x = np.asarray(x)
        if self.layers[0].window is not None:
            x = np.moveaxis(x, 1, -1)  # (batch, C, H, W) or (batch, C, L) -> channel-last
        return x.reshape(len(x), -1)

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Each layer's outputs (after its ReLU and pooling, if any; images channel-last)
        on ``x`` (batch, *input_shape), in float32 like ONNX Runtime."""
        activation = self.hardware_inputs(np.asarray(x, np.float32))
        outputs = []
        for layer in self.layers:
            activation = layer.forward(activation)
            outputs.append(activation)
        return outputs

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The float model's outputs on ``x`` (batch, *input_shape), flattened in ONNX's
        order (an output image channel first)."""
        out = self.layer_outputs(x)[-1]
        if self.output_image is None:
            return out
        channels, height, width = self.output_image
        return (
            out.reshape(len(out), height, width, channels)
            .transpose(0, 3, 1, 2)
            .reshape(len(out), -1)
        )


def import_onnx(path: str | Path) -> ImportedModel:
    """Read an ONNX model's chain of layers (see the module docstring); raises ``UserError``."""
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
    input_shape = _static_shape(inputs[0])
    chain = _Chain(input_shape)

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
    current = inputs[0].name
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
        try:
            if op in PASS_THROUGH:
                chain.removed.append(op)
            elif op in FINAL_ONLY:
                if position != len(nodes) - 1:
                    raise UserError(f"only a final {op} can be removed")
                chain.removed.append(op)
            elif op == "Cast":
                if attributes.get("to") != onnx.TensorProto.FLOAT:
                    raise UserError("only a cast to float32 (a no-op here) is supported")
                chain.removed.append(op)
            elif op == "Flatten":
                if attributes.get("axis", 1) != 1:
                    raise UserError("only axis 1 (keep the batch) is supported")
                chain.flatten()
            elif op == "Reshape":
                target = [int(dim) for dim in numpy_helper.to_array(constant_of(node, 1))]
                if len(target) != 2 or target[1] not in (-1, chain.features):
                    raise UserError(f"only a reshape to (batch, {chain.features}) is supported")
                chain.flatten()
            elif op in ("Gemm", "MatMul"):
                weight = weight_of(node, 1)
                bias = None
                if op == "Gemm":
                    if attributes.get("transA", 0):
                        raise UserError("transA = 1 is not supported")
                    if not attributes.get("transB", 0):
                        weight = weight.T
                    weight = weight * attributes.get("alpha", 1.0)
                    if len(node.input) > 2 and node.input[2]:
                        bias = weight_of(node, 2).reshape(-1) * attributes.get("beta", 1.0)
                else:
                    weight = weight.T
                chain.dense(weight, bias, node.name or op)
            elif op == "Conv":
                bias = (
                    weight_of(node, 2).reshape(-1)
                    if len(node.input) > 2 and node.input[2]
                    else None
                )
                chain.conv(weight_of(node, 1), bias, attributes, node.name or op)
            elif op == "Add" and chain.open_layer:
                other_index = 1 if node.input[0] == current else 0
                chain.add_bias(weight_of(node, other_index), node.name or op)
            elif op == "BatchNormalization" and chain.open_layer:
                scale, shift, mean, variance = (
                    weight_of(node, index).reshape(-1) for index in range(1, 5)
                )
                epsilon = attributes.get("epsilon", 1e-5)
                chain.batch_norm(scale, shift, mean, variance, epsilon, node.name or op)
            elif op == "Relu":
                chain.relu(node.name or op)
            elif op in POOLS:
                chain.pool(op, attributes, node.name or op)
            else:
                raise UserError(f"is not supported (supported: {SUPPORTED})")
        except UserError as error:
            separator = " " if str(error).startswith("is not supported") else ": "
            raise UserError(f"{label}{separator}{error}") from None
        current = node.output[0]
    if current != graph.output[0].name:
        raise UserError(
            f"output {graph.output[0].name!r} is not computed by the chain from the input"
        )
    if not chain.layers:
        raise UserError("the graph has no Gemm, MatMul or Conv layer")
    for layer in chain.layers:
        layer.weight = layer.weight.astype(np.float32)
        layer.bias = layer.bias.astype(np.float32)
    return ImportedModel(
        name, chain.layers, input_shape, chain.removed, chain.image or chain.flattened_image
    )


class _Chain:
    """The walk's state: the layers so far and the shape of the tensor between nodes, an
    image (channels, height, width; a 1-D one has height 1) or flat features."""

    def __init__(self, input_shape: tuple[int, ...]):
        self.layers: list[ImportedLayer] = []
        self.removed: list[str] = []
        if len(input_shape) == 3:
            self.image: tuple[int, int, int] | None = input_shape
        elif len(input_shape) == 2:
            self.image = (input_shape[0], 1, input_shape[1])
        else:
            self.image = None
        self.features = math.prod(input_shape)
        # an image flattened, whose (channel, row, column) order the next dense layer's
        # columns follow (the hardware's values are channel-last)
        self.flattened_image: tuple[int, int, int] | None = None
        self.open_layer = False  # the last node was a layer (or its bias / batch norm)
        self.poolable = False  # a convolution, its batch norm or ReLU: a pooling may follow
        self.pooled = False  # a pooling, not yet followed by anything

    def flatten(self) -> None:
        if self.image is not None and self.layers:
            self.flattened_image = self.image
        self.image = None
        self.open_layer = self.poolable = self.pooled = False

    def dense(self, weight: np.ndarray, bias: np.ndarray | None, node: str) -> None:
        if self.image is not None:
            channels, height, width = self.image
            raise UserError(f"its input is a {channels}x{height}x{width} image; flatten it first")
        if weight.ndim != 2 or weight.shape[1] != self.features:
            raise UserError(
                f"weight of shape {list(weight.shape)} does not take the {self.features} "
                "features before it"
            )
        bias = np.zeros(weight.shape[0]) if bias is None else bias
        if bias.shape != (weight.shape[0],):
            raise UserError(f"bias of shape {list(bias.shape)}, expected ({weight.shape[0]},)")
        if self.flattened_image is not None:  # columns (c, y, x) -> the hardware's (y, x, c)
            channels, height, width = self.flattened_image
            weight = weight.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
            weight = weight.reshape(weight.shape[0], -1)
            self.flattened_image = None
        self.layers.append(ImportedLayer(weight, bias, nodes=[node]))
        self.features = weight.shape[0]
        self.open_layer, self.poolable, self.pooled = True, False, False

    def conv(self, weight: np.ndarray, bias: np.ndarray | None, attributes: dict, node: str):
        if self.image is None:
            raise UserError("its input is not an image (batch, channels, height[, width])")
        if attributes.get("group", 1) != 1:
            raise UserError("grouped and depthwise convolutions are not supported (group = 1)")
        channels, height, width = self.image
        one_d = weight.ndim == 3
        if one_d:  # (O, C, K) over (C, 1, L)
            weight = weight[:, :, None, :]
        if weight.ndim != 4 or weight.shape[1] != channels:
            raise UserError(
                f"weight of shape {list(weight.shape)} does not take the {channels} channels "
                "before it"
            )
        kernel = tuple(weight.shape[2:])
        strides, pads = _window_attributes(attributes, kernel, (height, width), one_d)
        window = ConvWindow(height, width, channels, *kernel, *strides, *pads)
        bias = np.zeros(weight.shape[0]) if bias is None else bias
        if bias.shape != (weight.shape[0],):
            raise UserError(f"bias of shape {list(bias.shape)}, expected ({weight.shape[0]},)")
        self.layers.append(ImportedLayer(weight, bias, nodes=[node], window=window))
        self.image = (weight.shape[0], window.out_height, window.out_width)
        self.features = math.prod(self.image)
        self.open_layer = self.poolable = True
        self.pooled = False

    def add_bias(self, bias: np.ndarray, node: str) -> None:
        layer = self.layers[-1]
        bias = bias.reshape(-1)
        if bias.shape != (layer.n_out,):
            raise UserError(f"adds {bias.size} values to {layer.n_out} outputs")
        layer.bias = layer.bias + bias
        layer.nodes.append(node)

    def batch_norm(self, scale, shift, mean, variance, epsilon: float, node: str) -> None:
        layer = self.layers[-1]
        if any(vector.shape != (layer.n_out,) for vector in (scale, shift, mean, variance)):
            raise UserError(f"parameters do not have {layer.n_out} channels")
        gain = scale / np.sqrt(variance + epsilon)
        layer.weight = layer.weight * gain.reshape(-1, *[1] * (layer.weight.ndim - 1))
        layer.bias = (layer.bias - mean) * gain + shift
        layer.nodes.append(node)

    def relu(self, node: str) -> None:
        layer = self.layers[-1] if self.layers else None
        if layer is None or not (self.open_layer or self.poolable or self.pooled):
            raise UserError("a ReLU must follow a layer (or its pooling)")
        if layer.pooling is not None and layer.pooling.kind == "average":
            raise UserError("a ReLU after an average pooling is not supported: put it before")
        layer.relu = True  # after a max pooling too: the two commute
        layer.nodes.append(node)
        self.open_layer = self.pooled = False

    def pool(self, op: str, attributes: dict, node: str) -> None:
        layer = self.layers[-1] if self.layers else None
        if layer is None or layer.window is None or not self.poolable or layer.pooling:
            raise UserError("a pooling must follow a convolution (and its ReLU) directly")
        channels, height, width = self.image
        kind = POOLS[op]
        if op == "GlobalAveragePool":
            size, strides = (height, width), (height, width)
        else:
            if attributes.get("ceil_mode", 0):
                raise UserError("ceil_mode 1 is not supported")
            if any(dilation != 1 for dilation in attributes.get("dilations", [])):
                raise UserError("dilations other than 1 are not supported")
            size = tuple(attributes["kernel_shape"])
            if len(size) == 1:
                size = (1, size[0])
            one_d = len(attributes["kernel_shape"]) == 1
            strides, pads = _window_attributes(attributes, size, (height, width), one_d)
            if any(pads):
                raise UserError("padded pooling is not supported")
        layer.pooling = Pooling(kind, height, width, channels, *size, *strides)
        layer.nodes.append(node)
        self.image = (channels, layer.pooling.out_height, layer.pooling.out_width)
        self.features = math.prod(self.image)
        self.open_layer = self.poolable = False
        self.pooled = True


def _window_attributes(attributes: dict, kernel, image, one_d: bool):
    """(strides (y, x), pads (top, left, bottom, right)) of a Conv or pooling node, from
    ``strides``, ``pads`` or ``auto_pad``, for a kernel (ky, kx) over an image (h, w)."""
    if any(dilation != 1 for dilation in attributes.get("dilations", [])):
        raise UserError("dilations other than 1 are not supported")
    strides = list(attributes.get("strides", [1] * (1 if one_d else 2)))
    pads = list(attributes.get("pads", [0] * (2 if one_d else 4)))
    if one_d:
        strides, pads = [1, *strides], [0, pads[0], 0, pads[1]]
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for axis in (0, 1):
            size, step, span = image[axis], strides[axis], kernel[axis]
            total = max((-(-size // step) - 1) * step + span - size, 0)
            before = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[axis], pads[axis + 2] = before, total - before
    elif auto_pad not in ("NOTSET", "VALID"):
        raise UserError(f"auto_pad {auto_pad} is not supported")
    if len(strides) != 2 or len(pads) != 4:
        raise UserError("only 1-D and 2-D windows are supported")
    return (strides[0], strides[1]), (pads[0], pads[1], pads[2], pads[3])


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
