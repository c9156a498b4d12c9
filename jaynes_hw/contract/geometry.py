"""Convolution and pooling as the dense contract applied to windows of an image stream.

Images travel channel-last: one inference is ``height * width * channels`` values in the
order (row, column, channel), row-major, as the streams carry them one value per transfer.

A **convolution layer** (``ConvWindow``) is the dense layer of ``jaynes_hw.contract.reference``
applied at every output position to that position's receptive field, read in the order
(kernel row, kernel column, channel), with zeros where the window reaches into the padding.
Its weights are the dense ``(out_channels, kernel_height * kernel_width * channels)`` matrix
of codes and codebook (an ONNX ``(O, C, KH, KW)`` weight transposed to ``(O, KH, KW, C)``),
and its outputs are again channel-last: position by position, ``out_channels`` values each.
Dilation is 1 and groups 1. Zero padding is exact: activations are symmetric integers, so the
integer 0 is the real 0.

A **pooling stage** (``Pooling``) follows a convolution's ReLU and reduces each channel over
windows without padding:

- ``max``: the largest value of the window;
- ``average``: ``rshift_round(sum, t)`` with ``t = ceil(log2(size_y * size_x))``, i.e. the
  window's sum divided by the power of two at or above its size, rounded half up like every
  shift of the contract. The result stays inside the input range (``2^t >= size``), needs no
  divider, and stands for the real mean times ``2^t / size``: the output scale is the input
  scale times that factor (exactly 1 for 2x2 and 4x4 windows), which the next layer's
  weights and bias absorb.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from jaynes_hw.contract.reference import LayerArithmetic, reference_layer, rshift_round
from jaynes_hw.support.errors import UserError

POOL_KINDS = ("max", "average")
MAX_IMAGE_DIMENSION = 4096


def _check_positive(name: str, value: object, limit: int = MAX_IMAGE_DIMENSION) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise UserError(f"{name} must be an integer from 1 to {limit}, not {value!r}")


@dataclass(frozen=True)
class ConvWindow:
    """The receptive fields of a 2-D convolution (a 1-D one has ``height = 1``).

    Attributes
    ----------
    height, width, channels : int
        The input image, channel-last.
    kernel_y, kernel_x : int
        Kernel rows and columns.
    stride_y, stride_x : int
    pad_top, pad_left, pad_bottom, pad_right : int
        Zero rows and columns around the image (each below the kernel's size on its axis).
    """

    height: int
    width: int
    channels: int
    kernel_y: int
    kernel_x: int
    stride_y: int = 1
    stride_x: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels", "kernel_y", "kernel_x"):
            _check_positive(name, getattr(self, name))
        _check_positive("stride_y", self.stride_y, self.kernel_y + self.height)
        _check_positive("stride_x", self.stride_x, self.kernel_x + self.width)
        for name, kernel in (
            ("pad_top", self.kernel_y),
            ("pad_bottom", self.kernel_y),
            ("pad_left", self.kernel_x),
            ("pad_right", self.kernel_x),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < kernel:
                raise UserError(f"{name} must be 0..{kernel - 1} (below the kernel), not {value!r}")
        if self.out_height < 1 or self.out_width < 1:
            raise UserError(
                f"a {self.kernel_y}x{self.kernel_x} kernel does not fit a padded "
                f"{self.height}x{self.width} image"
            )

    @property
    def out_height(self) -> int:
        return (self.height + self.pad_top + self.pad_bottom - self.kernel_y) // self.stride_y + 1

    @property
    def out_width(self) -> int:
        return (self.width + self.pad_left + self.pad_right - self.kernel_x) // self.stride_x + 1

    @property
    def positions(self) -> int:
        """Output positions per image: ``out_height * out_width``."""
        return self.out_height * self.out_width

    @property
    def values_in(self) -> int:
        """Input values per image: ``height * width * channels``."""
        return self.height * self.width * self.channels

    @property
    def window_size(self) -> int:
        """Values in one receptive field, the dense layer's ``n_in``."""
        return self.kernel_y * self.kernel_x * self.channels

    def gather_index(self) -> np.ndarray:
        """int64 (positions, window_size): the input index each window value reads, -1 where
        it reads padding; positions row-major, window values (kernel row, column, channel)."""
        oy, ox, ky, kx, c = np.meshgrid(
            np.arange(self.out_height),
            np.arange(self.out_width),
            np.arange(self.kernel_y),
            np.arange(self.kernel_x),
            np.arange(self.channels),
            indexing="ij",
        )
        iy = oy * self.stride_y - self.pad_top + ky
        ix = ox * self.stride_x - self.pad_left + kx
        inside = (iy >= 0) & (iy < self.height) & (ix >= 0) & (ix < self.width)
        index = np.where(inside, (iy * self.width + ix) * self.channels + c, -1)
        return index.reshape(self.positions, self.window_size)

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Receptive fields of images ``x`` (batch, values_in): (batch * positions,
        window_size), images one after the other, padding as 0."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.values_in:
            raise UserError(f"images must be (batch, {self.values_in}), not {x.shape}")
        index = self.gather_index()
        padded = np.concatenate([x, np.zeros((len(x), 1), x.dtype)], axis=1)  # index -1: 0
        return padded[:, index].reshape(len(x) * self.positions, self.window_size)

    def windows_slow(self, x: np.ndarray) -> np.ndarray:
        """The same receptive fields, written as the obvious loops (for tests)."""
        x = np.asarray(x)
        rows = []
        for image in x:
            pixels = image.reshape(self.height, self.width, self.channels)
            for oy in range(self.out_height):
                for ox in range(self.out_width):
                    field = []
                    for ky in range(self.kernel_y):
                        for kx in range(self.kernel_x):
                            iy = oy * self.stride_y - self.pad_top + ky
                            ix = ox * self.stride_x - self.pad_left + kx
                            for c in range(self.channels):
                                inside = 0 <= iy < self.height and 0 <= ix < self.width
                                field.append(int(pixels[iy, ix, c]) if inside else 0)
                    rows.append(field)
        return np.array(rows, dtype=np.int64).reshape(-1, self.window_size)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> ConvWindow:
        return cls(**{key: int(value) for key, value in record.items()})


@dataclass(frozen=True)
class Pooling:
    """Max or average pooling of a channel-last image over windows without padding.

    Attributes
    ----------
    kind : str
        ``max`` or ``average`` (see the module docstring for the average's rounding).
    height, width, channels : int
        The image pooled (the convolution's output).
    size_y, size_x, stride_y, stride_x : int
        The window and its step; a global average pool is a window of the whole image.
    """

    kind: str
    height: int
    width: int
    channels: int
    size_y: int
    size_x: int
    stride_y: int
    stride_x: int

    def __post_init__(self) -> None:
        if self.kind not in POOL_KINDS:
            raise UserError(f"unknown pooling {self.kind!r}; expected one of {POOL_KINDS}")
        for name in ("height", "width", "channels", "size_y", "size_x", "stride_y", "stride_x"):
            _check_positive(name, getattr(self, name))
        if self.size_y > self.height or self.size_x > self.width:
            raise UserError(
                f"a {self.size_y}x{self.size_x} pool does not fit a {self.height}x{self.width} "
                "image"
            )

    @property
    def window(self) -> ConvWindow:
        """The same windows as a convolution's, without padding."""
        return ConvWindow(
            self.height, self.width, self.channels, self.size_y, self.size_x,
            self.stride_y, self.stride_x,
        )  # fmt: skip

    @property
    def out_height(self) -> int:
        return self.window.out_height

    @property
    def out_width(self) -> int:
        return self.window.out_width

    @property
    def values_in(self) -> int:
        return self.height * self.width * self.channels

    @property
    def values_out(self) -> int:
        return self.out_height * self.out_width * self.channels

    @property
    def shift(self) -> int:
        """The average's right shift, ``ceil(log2(size_y * size_x))`` (0 for max)."""
        return math.ceil(math.log2(self.size_y * self.size_x)) if self.kind == "average" else 0

    @property
    def scale(self) -> float:
        """Real value of an output LSB over an input LSB: ``2^shift / window`` (average),
        1 (max)."""
        return 2.0**self.shift / (self.size_y * self.size_x) if self.kind == "average" else 1.0

    def apply(self, y: np.ndarray) -> np.ndarray:
        """Pooled images (batch, values_out) of integer images ``y`` (batch, values_in)."""
        window = self.window
        fields = window.windows(np.asarray(y, dtype=np.int64))
        fields = fields.reshape(-1, self.size_y * self.size_x, self.channels)
        if self.kind == "max":
            pooled = fields.max(axis=1)
        else:
            pooled = rshift_round(fields.sum(axis=1), self.shift)
        return pooled.reshape(len(y), self.values_out)

    def apply_slow(self, y: np.ndarray) -> np.ndarray:
        """The same pooling, written as loops over Python integers (for tests)."""
        out = []
        for image in np.asarray(y):
            pixels = image.reshape(self.height, self.width, self.channels)
            values = []
            for oy in range(self.out_height):
                for ox in range(self.out_width):
                    for c in range(self.channels):
                        window = [
                            int(pixels[oy * self.stride_y + ky, ox * self.stride_x + kx, c])
                            for ky in range(self.size_y)
                            for kx in range(self.size_x)
                        ]
                        if self.kind == "max":
                            values.append(max(window))
                        else:
                            total, shift = sum(window), self.shift
                            values.append((total + (1 << shift >> 1)) >> shift if shift else total)
            out.append(values)
        return np.array(out, dtype=np.int64)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> Pooling:
        return cls(
            str(record["kind"]),
            **{key: int(value) for key, value in record.items() if key != "kind"},
        )


@dataclass(frozen=True)
class Convolution:
    """What makes a layer a convolution: its receptive fields and the pooling after it.

    The layer's core (``LayerConfig``) is the dense layer of one position: ``n_in =
    window.window_size``, ``n_out`` output channels. Per image the layer takes
    ``values_in`` values and gives ``values_out(n_out)``.
    """

    window: ConvWindow
    pooling: Pooling | None = None

    def __post_init__(self) -> None:
        pooling, window = self.pooling, self.window
        if pooling is not None and (pooling.height, pooling.width) != (
            window.out_height,
            window.out_width,
        ):
            raise UserError(
                f"the pooling's {pooling.height}x{pooling.width} image is not the "
                f"convolution's {window.out_height}x{window.out_width} output"
            )

    @property
    def values_in(self) -> int:
        return self.window.values_in

    def values_out(self, out_channels: int) -> int:
        if self.pooling is not None:
            return self.pooling.values_out
        return self.window.positions * out_channels

    def output_image(self, out_channels: int) -> tuple[int, int, int]:
        """(height, width, channels) of the layer's output image."""
        if self.pooling is not None:
            return self.pooling.out_height, self.pooling.out_width, out_channels
        return self.window.out_height, self.window.out_width, out_channels

    def apply(self, dense, x: np.ndarray) -> np.ndarray:
        """The layer on images ``x`` (batch, values_in), ``dense`` being the core's layer on
        a batch of receptive fields: (batch, values_out)."""
        outputs = dense(self.window.windows(x)).reshape(len(x), -1)
        return outputs if self.pooling is None else self.pooling.apply(outputs)

    def image_cycles(self, cycles_per_vector: int) -> int:
        """At most the cycles an image spends in the layer at full rate, for a core that
        spends ``cycles_per_vector`` on a position: loading the image's rows, every
        position through the core, three cycles per output row (turning to loading, and
        the window generator's registered thresholds), and the same for the pooling's
        window generator (the two take turns at worst)."""
        window = self.window
        cycles = (
            window.values_in
            + window.positions * max(cycles_per_vector, window.window_size + 1)
            + 3 * window.out_height
            + 2
        )
        if self.pooling is not None:
            pool = self.pooling.window
            cycles += pool.values_in + pool.positions * pool.window_size + 3 * pool.out_height + 2
        return cycles

    def to_json(self) -> dict:
        pooling = None if self.pooling is None else self.pooling.to_json()
        return {"window": self.window.to_json(), "pooling": pooling}

    @classmethod
    def from_json(cls, record: dict) -> Convolution:
        pooling = record.get("pooling")
        return cls(
            ConvWindow.from_json(record["window"]),
            None if pooling is None else Pooling.from_json(pooling),
        )


def chain_text(layers) -> str:
    """The values along a chain of layers, images as height x width x channels:
    ``"8x8x1 -> conv 3x3, max pool 2x2 -> 4x4x8 -> 10"``. ``layers``: (n_in, n_out,
    convolution or None) of each layer, in order."""
    n_in, _, convolution = layers[0]
    if convolution is None:
        parts = [str(n_in)]
    else:
        window = convolution.window
        parts = [f"{window.height}x{window.width}x{window.channels}"]
    for _, n_out, convolution in layers:
        if convolution is None:
            parts.append(str(n_out))
            continue
        window, pooling = convolution.window, convolution.pooling
        step = f"conv {window.kernel_y}x{window.kernel_x}"
        if pooling is not None:
            step += f", {pooling.kind} pool {pooling.size_y}x{pooling.size_x}"
        parts += [step, "x".join(map(str, convolution.output_image(n_out)))]
    return " -> ".join(parts)


class PerInference:
    """What a layer takes and gives per inference, for anything with a ``config``
    (``LayerConfig``: one position's dense layer) and a ``convolution`` (or None): the
    manifest's entries, the design's layers, the generator's built layers."""

    @property
    def values_in(self) -> int:
        """Input values per inference (an image, channel-last, for a convolution)."""
        if self.convolution is None:
            return self.config.n_in
        return self.convolution.values_in

    @property
    def values_out(self) -> int:
        """Output values per inference."""
        if self.convolution is None:
            return self.config.n_out
        return self.convolution.values_out(self.config.n_out)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference (a convolution: at every position)."""
        positions = 1 if self.convolution is None else self.convolution.window.positions
        return positions * self.config.n_in * self.config.n_out


def run_layer(
    arithmetic: LayerArithmetic,
    weights: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None,
    convolution: Convolution | None,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """The bit-exact layer on inputs (batch, values_in): ``reference_layer``, at every
    position and then pooled for a convolution. Returns (batch, values_out)."""

    def dense(inputs):
        return reference_layer(arithmetic, weights, inputs, bias, scales)

    return dense(x) if convolution is None else convolution.apply(dense, x)
