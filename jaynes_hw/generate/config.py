"""The network description a user writes (TOML), and what a generator run is asked for.

The TOML (every key is documented in the README, "The network description")::

    name = "digits_mlp"           # top module and file stem
    source = "digits_mlp.npz"     # float weights (any format `analyze` reads), relative to
                                  # this file
    core = "lognormal"            # lognormal | int8
    scheme = "lognormal"          # lognormal | pow2 | lns | int  (lognormal cores)
    bits = 4                      # code bits (lognormal cores; int8 cores use int, 8)
    act_bits = 8                  # input width of the first layer
    input_scale = 0.0078740157    # real value of one input LSB (converts real biases)
    calibration = "inputs.npy"    # optional integer inputs that choose the "auto" shifts

    levels = "m6e2"               # level register format (default: the scheme's)
    datapath = "auto"             # auto | per_lane | shared | unrolled | unrolled_serial
    scale_bits = 8                # per-output-channel scale registers of this width: the
                                  # layers are quantized per channel (absent: none, but 8
                                  # for a file quantized --per-channel)

    [[layer]]                     # weight, and optionally: bias, lanes, relu, shift
    weight = "fc1.weight"         # ("auto" or an integer), out_bits, bias_bits, scheme,
                                  # bits, levels, datapath, scale_bits, code_memory ("block" or
                                  # "spram": iCE40 UltraPlus SPRAM, loaded at start-up),
                                  # conv and pool (below)

    [[layer]]                     # a convolution: the image it takes, channel-last
    weight = "conv1.weight"       # (O, C, KH, KW) as PyTorch and ONNX hold it, (O, C, K)
                                  # for 1-D, or (O, KH*KW*C) in window order
    conv = { height = 8, width = 8, channels = 1, kernel = [3, 3], stride = [1, 1],
             padding = [1, 1, 1, 1] }        # padding [top, left, bottom, right]
    pool = { kind = "max", size = [2, 2], stride = [2, 2] }   # optional; max | average

``parse_config`` checks every key and type and names the file in its errors;
``plan_generation`` turns the command line's choices (config, quantized file, core, scheme,
name) into a ``GenerationPlan``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from jaynes_hw.contract.codebook import LevelFormat
from jaynes_hw.contract.geometry import Convolution, ConvWindow, Pooling
from jaynes_hw.contract.layer_config import DEFAULT_LANES
from jaynes_hw.quantize.archive import load_quantized
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import read_toml

DEFAULT_CONFIG = "default_network.toml"
NETWORK_KEYS = {
    "name",
    "source",
    "core",
    "scheme",
    "bits",
    "act_bits",
    "input_scale",
    "calibration",
    "levels",
    "datapath",
    "scale_bits",
    "layer",
}
LAYER_KEYS = {
    "weight",
    "bias",
    "lanes",
    "relu",
    "shift",
    "out_bits",
    "bias_bits",
    "scheme",
    "bits",
    "levels",
    "datapath",
    "scale_bits",
    "code_memory",
    "conv",
    "pool",
}
CONV_KEYS = {"height", "width", "channels", "kernel", "stride", "padding"}
POOL_KEYS = {"kind", "size", "stride"}


@dataclass(frozen=True)
class LayerRequest:
    weight: str
    bias: str | None = None
    lanes: int = DEFAULT_LANES
    relu: bool = False
    shift: int | None = None  # None: auto
    out_bits: int = 8
    bias_bits: int | None = None  # None: the sum width with a bias tensor, else 0
    scheme: str | None = None  # None: the network's
    bits: int | None = None  # None: the network's
    levels: LevelFormat | None = None  # None: the network's
    datapath: str | None = None  # auto | per_lane | shared | unrolled...; None: the network's
    scale_bits: int | None = None  # None: the network's
    code_memory: str = "block"  # block | spram
    window: ConvWindow | None = None  # a convolution's; None: a dense layer
    pool: dict | None = None  # Pooling's parameters but the image (kind, size_y, ...)

    def convolution(self, out_channels: int) -> Convolution | None:
        """The layer's convolution once its output channels are known."""
        if self.window is None:
            return None
        pooling = None
        if self.pool is not None:
            window = self.window
            pooling = Pooling(
                height=window.out_height, width=window.out_width, channels=out_channels,
                **self.pool,
            )  # fmt: skip
        return Convolution(self.window, pooling)


@dataclass(frozen=True)
class NetworkRequest:
    name: str
    layers: tuple[LayerRequest, ...]
    source: Path | None = None
    core: str = "lognormal"
    scheme: str = "lognormal"
    bits: int = 4
    act_bits: int = 8
    input_scale: float | None = None
    calibration: Path | None = None
    levels: LevelFormat | None = None  # None: the scheme's default format
    datapath: str = "auto"
    # channel scale registers; None: 8 bits for a layer quantized per channel, else none
    scale_bits: int | None = None


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(
            f"unknown key {unknown[0]!r} in {where} (expected: {', '.join(sorted(allowed))})"
        )


def _typed(table: dict, key: str, kind: type, where: str, default=None):
    """``table[key]`` (or ``default``) checked to be a ``kind`` (a bool is not an int)."""
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = {int: "an integer", bool: "true or false", str: "a string"}
        raise UserError(f"{key} in {where} must be {names[kind]}, not {value!r}")
    return value


def _level_format(table: dict, where: str) -> LevelFormat | None:
    """The ``levels`` key ("m6e2") as a ``LevelFormat``, or None when absent."""
    text = _typed(table, "levels", str, where)
    if text is None:
        return None
    try:
        return LevelFormat.parse(text)
    except UserError as error:
        raise UserError(f"levels in {where}: {error}") from None


def _integers(table: dict, key: str, count: int, where: str, default=None) -> tuple[int, ...]:
    """``table[key]`` as ``count`` integers: a list of that length, or one integer for all."""
    value = table.get(key, default)
    if value is None:
        raise UserError(f"{where} needs {key}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value] * count
    if (
        not isinstance(value, list)
        or len(value) != count
        or any(isinstance(item, bool) or not isinstance(item, int) for item in value)
    ):
        raise UserError(f"{key} in {where} must be an integer or a list of {count}, not {value!r}")
    return tuple(value)


def _convolution(table: dict, where: str) -> tuple[ConvWindow | None, dict | None]:
    """The ``conv`` and ``pool`` inline tables of a layer: its window, and its pooling's
    parameters (checked on a one-channel image; the channels are the weight's)."""
    conv, pool = table.get("conv"), table.get("pool")
    if conv is None:
        if pool is not None:
            raise UserError(f"pool in {where} needs conv: pooling follows a convolution")
        return None, None
    if not isinstance(conv, dict):
        raise UserError(f"conv in {where} must be a table")
    _check_keys(conv, CONV_KEYS, f"conv in {where}")
    height, width, channels = (_integers(conv, key, 1, f"conv in {where}")[0]
                               for key in ("height", "width", "channels"))  # fmt: skip
    kernel = _integers(conv, "kernel", 2, f"conv in {where}")
    stride = _integers(conv, "stride", 2, f"conv in {where}", 1)
    padding = _integers(conv, "padding", 4, f"conv in {where}", 0)
    try:
        window = ConvWindow(height, width, channels, *kernel, *stride, *padding)
        if pool is None:
            return window, None
        if not isinstance(pool, dict):
            raise UserError("pool must be a table")
        _check_keys(pool, POOL_KEYS, "pool")
        size = _integers(pool, "size", 2, "pool")
        pool_stride = _integers(pool, "stride", 2, "pool", list(size))
        parameters = {
            "kind": _typed(pool, "kind", str, "pool", "max"),
            "size_y": size[0], "size_x": size[1],
            "stride_y": pool_stride[0], "stride_x": pool_stride[1],
        }  # fmt: skip
        Pooling(height=window.out_height, width=window.out_width, channels=1, **parameters)
        return window, parameters
    except UserError as error:
        raise UserError(f"{where}: {error}") from None


def parse_config(path: Path) -> NetworkRequest:
    """Read and check a TOML network description; raises ``UserError`` with the file name."""
    document = read_toml(path)
    try:
        return _network_request(document, path)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None


def _network_request(document: dict, path: Path) -> NetworkRequest:
    _check_keys(document, NETWORK_KEYS, "the network")
    tables = document.get("layer")
    if not isinstance(tables, list) or not tables:
        raise UserError("needs at least one [[layer]] table")
    layers = []
    for index, table in enumerate(tables):
        where = f"[[layer]] {index + 1}"
        if not isinstance(table, dict):
            raise UserError(f"{where} must be a table")
        _check_keys(table, LAYER_KEYS, where)
        window, pool = _convolution(table, where)
        weight = _typed(table, "weight", str, where)
        if weight is None:
            raise UserError(f"{where} needs a weight name")
        shift = table.get("shift", "auto")
        if shift != "auto" and (isinstance(shift, bool) or not isinstance(shift, int)):
            raise UserError(f'shift in {where} must be an integer or "auto", not {shift!r}')
        layers.append(
            LayerRequest(
                weight=weight,
                bias=_typed(table, "bias", str, where),
                lanes=_typed(table, "lanes", int, where, DEFAULT_LANES),
                relu=_typed(table, "relu", bool, where, False),
                shift=None if shift == "auto" else shift,
                out_bits=_typed(table, "out_bits", int, where, 8),
                bias_bits=_typed(table, "bias_bits", int, where),
                scheme=_typed(table, "scheme", str, where),
                bits=_typed(table, "bits", int, where),
                levels=_level_format(table, where),
                datapath=_typed(table, "datapath", str, where),
                scale_bits=_typed(table, "scale_bits", int, where),
                code_memory=_typed(table, "code_memory", str, where, "block"),
                window=window,
                pool=pool,
            )
        )
    source = _typed(document, "source", str, "the network")
    calibration = _typed(document, "calibration", str, "the network")
    input_scale = document.get("input_scale")
    if input_scale is not None and (
        isinstance(input_scale, bool)
        or not isinstance(input_scale, int | float)
        or not input_scale > 0
    ):
        raise UserError(f"input_scale must be a positive number, not {input_scale!r}")
    return NetworkRequest(
        name=_typed(document, "name", str, "the network", path.stem),
        layers=tuple(layers),
        source=(path.parent / source) if source else None,
        core=_typed(document, "core", str, "the network", "lognormal"),
        scheme=_typed(document, "scheme", str, "the network", "lognormal"),
        bits=_typed(document, "bits", int, "the network", 4),
        act_bits=_typed(document, "act_bits", int, "the network", 8),
        input_scale=None if input_scale is None else float(input_scale),
        calibration=(path.parent / calibration) if calibration else None,
        levels=_level_format(document, "the network"),
        datapath=_typed(document, "datapath", str, "the network", "auto"),
        scale_bits=_typed(document, "scale_bits", int, "the network"),
    )


def default_request() -> NetworkRequest:
    """The built-in default network (``jaynes_hw/data/default_network.toml``)."""
    resource = resources.files("jaynes_hw") / "data" / DEFAULT_CONFIG
    with resources.as_file(resource) as path:
        return parse_config(Path(path))


@dataclass(frozen=True)
class GenerationPlan:
    """What a generator run builds: the network, its core kind, its name and provenance.

    ``weights_file`` is a quantized file whose codes and codebooks are used as they are
    (None: quantize the network's float ``source`` here).
    """

    request: NetworkRequest
    core: str
    name: str
    provenance: dict
    weights_file: Path | None = None


def plan_generation(
    config: Path | None = None,
    weights: Path | None = None,
    core: str | None = None,
    scheme: str | None = None,
    name: str | None = None,
    datapath: str | None = None,
) -> GenerationPlan:
    """The plan for a TOML ``config`` and/or a quantized ``weights`` file (neither: the
    built-in default), with ``core`` / ``scheme`` / ``datapath`` (every layer's) overriding
    the config's and ``name`` the top module's (default: the config's name, plus ``_int8``,
    ``_<scheme>`` or ``_<datapath>`` when those differ from the config's)."""
    if config is not None:
        request = parse_config(config)
        provenance = {"config": config.name}
    elif weights is not None:
        meta, layers = load_quantized(weights)
        request = NetworkRequest(
            name=re.sub(r"\W", "_", weights.name.split(".")[0]) or "network",
            layers=tuple(
                LayerRequest(layer.name, relu=index < len(layers) - 1)
                for index, layer in enumerate(layers)
            ),
        )
        provenance = {"weights": weights.name, "quantized_from": meta.get("source")}
    else:
        request = default_request()
        provenance = {"config": f"jaynes_hw/data/{DEFAULT_CONFIG} (built-in default)"}
    if weights is not None:
        provenance["weights"] = weights.name
    core = core or request.core
    default_name = request.name if core == request.core else f"{request.name}_{core}"
    if scheme is not None and scheme != request.scheme:
        if weights is not None or core != "lognormal":
            raise UserError("--scheme applies to lognormal cores quantized from float weights")
        request = replace(request, scheme=scheme)
        default_name = f"{default_name}_{scheme}"
    if datapath is not None:
        if core != "lognormal" and datapath != "per_lane":
            raise UserError(f"--datapath {datapath} applies to lognormal cores")
        layers = tuple(replace(layer, datapath=None) for layer in request.layers)
        request = replace(request, datapath=datapath, layers=layers)
        default_name = f"{default_name}_{datapath}"
    return GenerationPlan(request, core, name or default_name, provenance, weights)
