"""``python -m jaynes_hw.generate``: emit a network of layer cores as Verilog, with its manifest.

With no arguments it builds the documented default: the 64-32-10 digits MLP shipped in
``jaynes_hw/data`` (``default_network.toml``), quantized to 4-bit lognormal codes, into
``./rtl``. Options:

- ``--config FILE``: a TOML network description (below);
- ``--weights FILE``: a quantized file written by ``jaynes-hw quantize`` (its codes and
  codebooks are used as they are); without ``--config`` its layers are chained in order;
- ``--core lognormal|int8``: the core kind (default: the config's, else ``lognormal``);
- ``--scheme lognormal|pow2|lns|int``: the codebook scheme of lognormal cores quantized
  from float weights (default: the config's);
- ``--out DIR`` (default ``rtl``), ``--name NAME`` (top module and file stem).

Files written to ``DIR`` (each atomically, all only once everything has been built):

- ``NAME.v``: the Verilog, top module ``NAME``, clock ``clk``, synchronous active-high ``rst``;
- ``NAME.json``: the manifest: ports, per-layer parameters, latency, throughput, codebooks,
  scales and the register map (``jaynes_hw.registers``);
- ``NAME.layerK.codes.hex`` (and ``.bias.hex``): the memories' initial rows for
  ``$readmemh`` (the Verilog carries the same values as its memory initialisers).

The network description (TOML)::

    name = "digits_mlp"           # top module and file stem
    source = "digits_mlp.npz"     # float weights (any format `analyze` reads), relative to
                                  # this file; quantized here, per layer, to:
    core = "lognormal"            # lognormal | int8
    scheme = "lognormal"          # lognormal | pow2 | lns | int  (lognormal cores)
    bits = 4                      # code bits (lognormal cores; int8 cores use int, 8)
    act_bits = 8                  # input width of the first layer
    input_scale = 0.0078740157    # real value of one input LSB (converts real biases)
    calibration = "inputs.npy"    # optional: integer input vectors (samples, n_in) that
                                  # choose the "auto" shifts

    [[layer]]
    weight = "fc1.weight"         # tensor (or quantized-layer) name
    bias = "fc1.bias"             # optional float bias tensor, converted to integers
    lanes = 4                     # outputs computed in parallel
    relu = true
    shift = 7                     # output shift S, or "auto"
    out_bits = 8
    bias_bits = 24                # default: the layer's sum width with a bias, 0 without
    scheme = "pow2"               # optional: this layer's scheme and bits (lognormal cores)
    bits = 3

``shift = "auto"`` (the default) is the smallest S that keeps every calibration vector's
sums (bias included, previous layers run through the reference) inside the output range, so
nothing saturates on the calibration set. Without calibration data it is the data-free
S = round(log2(median_o ||w_o||_2) + act_bits - out_bits), which maps an input whose RMS is
a quarter of the input range onto outputs whose RMS is a quarter of the output range.
Either is only the register's reset value: write SHIFT through the port to change it.

A real bias b becomes round(b / (weight_scale * input LSB)); layer k+1's input LSB is layer
k's output LSB, weight_scale * input LSB * 2^S.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from jaynes_hw.codebook import signed_levels
from jaynes_hw.errors import UserError
from jaynes_hw.layer_config import CORE_KINDS, LayerConfig
from jaynes_hw.memory_image import hex_text, pack_bias_rows, pack_code_rows
from jaynes_hw.outputs import atomic_output, json_safe
from jaynes_hw.population.loaders import iter_tensors
from jaynes_hw.quantize import HARDWARE_SCHEMES, QuantizedLayer, quantize_layer
from jaynes_hw.quantized_file import load_quantized
from jaynes_hw.reference import reference_layer
from jaynes_hw.registers import RegisterMap

DEFAULT_CONFIG = "default_network.toml"
DEFAULT_OUT = "rtl"
NETWORK_KEYS = {
    "name",
    "source",
    "core",
    "scheme",
    "bits",
    "act_bits",
    "input_scale",
    "calibration",
    "layer",
}
LAYER_KEYS = {"weight", "bias", "lanes", "relu", "shift", "out_bits", "bias_bits", "scheme", "bits"}
DEFAULT_LANES = 4


# --- the description ------------------------------------------------------------------------


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


def parse_config(path: Path) -> NetworkRequest:
    """Read and check a TOML network description; raises ``UserError`` with the file name."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None
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
    )


# --- integer layers ---------------------------------------------------------------------------


@dataclass
class BuiltLayer:
    """One layer, ready for the gateware: config, stored words, registers, bookkeeping."""

    name: str
    config: LayerConfig
    stored: np.ndarray  # codes, or int8 weights
    quantized: QuantizedLayer
    shift: int
    bias: np.ndarray | None
    input_scale: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def weight_scale(self) -> float:
        return self.quantized.codebook.weight_scale

    @property
    def output_scale(self) -> float | None:
        if self.input_scale is None:
            return None
        return self.weight_scale * self.input_scale * 2.0**self.shift


def auto_shift(weights: np.ndarray, act_bits: int, out_bits: int, max_shift: int) -> int:
    """The data-free reset value of the output shift (see the module docstring)."""
    norms = np.sqrt((weights.astype(np.float64) ** 2).sum(axis=1))
    typical = float(np.median(norms))
    if typical <= 0:
        return 0
    return int(np.clip(round(math.log2(typical) + act_bits - out_bits), 0, max_shift))


def calibrated_shift(
    config: LayerConfig, weights: np.ndarray, bias: np.ndarray | None, inputs: np.ndarray
) -> int:
    """Smallest S with every calibration sum inside the output range after the shift."""
    sums = inputs.astype(np.int64) @ weights.T.astype(np.int64)
    if bias is not None:
        sums = sums + bias
    largest = int(np.abs(sums).max(initial=0))
    top = (1 << (config.out_bits - 1)) - 1
    shift = 0
    while shift < config.max_shift and (largest + (1 << shift >> 1)) >> shift > top:
        shift += 1
    return shift


def _calibration_inputs(request: NetworkRequest) -> np.ndarray | None:
    if request.calibration is None:
        return None
    try:
        inputs = np.load(request.calibration, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{request.calibration}: no such file") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{request.calibration}: not a .npy array ({error})") from None
    n_in, half = None, 1 << (request.act_bits - 1)
    if inputs.ndim == 2:
        n_in = inputs.shape[1]
    if n_in is None or inputs.dtype.kind not in "iu" or not len(inputs):
        raise UserError(f"{request.calibration}: needs a 2-D integer array (samples, n_in)")
    if inputs.min() < -half or inputs.max() >= half:
        raise UserError(f"{request.calibration}: inputs must be {request.act_bits}-bit signed")
    return inputs.astype(np.int64)


def _sources(request: NetworkRequest, weights_file: Path | None):
    """Float tensors by name (lazily) and quantized layers by name."""
    quantized: dict[str, QuantizedLayer] = {}
    tensors = {}
    if weights_file is not None:
        _, layers = load_quantized(weights_file)
        quantized = {layer.name: layer for layer in layers}
    if request.source is not None:
        tensors = {tensor.name: tensor for tensor in iter_tensors(request.source)}
    return quantized, tensors


def _quantized_layer(request, layer: LayerRequest, core: str, quantized, tensors):
    if quantized:
        if layer.weight not in quantized:
            raise UserError(
                f"layer {layer.weight!r} is not in the quantized file "
                f"(it has: {', '.join(quantized)})"
            )
        result = quantized[layer.weight]
    else:
        weights = _float_tensor(tensors, layer.weight, request.source)
        if core == "int8":
            result = quantize_layer(layer.weight, weights, "int", 8)
        else:
            scheme = layer.scheme or request.scheme
            if scheme not in HARDWARE_SCHEMES:
                raise UserError(
                    f"unknown scheme {scheme!r}; expected one of {', '.join(HARDWARE_SCHEMES)}"
                )
            result = quantize_layer(layer.weight, weights, scheme, layer.bits or request.bits)
    if result.channel_scales is not None:
        raise UserError(
            f"layer {layer.weight!r} was quantized per channel: the cores have one weight "
            "scale per layer; quantize without --per-channel"
        )
    if len(result.shape) != 2:
        raise UserError(f"layer {layer.weight!r} has shape {result.shape}; the cores are dense 2-D")
    return result


def _float_tensor(tensors, name: str, source) -> np.ndarray:
    if name not in tensors:
        raise UserError(f"{source}: no tensor named {name!r}")
    tensor = tensors[name]
    if tensor.skip_reason:
        raise UserError(f"{source}: tensor {name!r} cannot be used ({tensor.skip_reason})")
    return np.asarray(tensor.load(), dtype=np.float64)


def build_layers(
    request: NetworkRequest, core: str, weights_file: Path | None = None
) -> list[BuiltLayer]:
    """Quantize (or load) every layer, choose shifts, convert biases, check the chain."""
    if core not in CORE_KINDS:
        raise UserError(f"unknown core {core!r}; expected one of {', '.join(CORE_KINDS)}")
    if weights_file is None and request.source is None:
        raise UserError("the network names no source weights; pass --weights FILE")
    quantized, tensors = _sources(request, weights_file)
    calibration = _calibration_inputs(request)
    built: list[BuiltLayer] = []
    act_bits, input_scale = request.act_bits, request.input_scale
    for layer in request.layers:
        q = _quantized_layer(request, layer, core, quantized, tensors)
        n_out, n_in = q.codes.shape
        weights = signed_levels(q.codes, q.codebook)  # s * L[k], what the layer multiplies
        if built and n_in != built[-1].config.n_out:
            raise UserError(
                f"layer {layer.weight!r} has {n_in} inputs but {built[-1].name!r} "
                f"gives {built[-1].config.n_out} outputs"
            )
        if core == "int8":
            stored = weights
            if np.abs(stored).max(initial=0) > 127:
                raise UserError(
                    f"layer {layer.weight!r}: the int8 core needs levels within 127; "
                    "quantize with --scheme int --bits 8"
                )
            fmt_fields = {}
        else:
            stored = q.codes
            fmt = q.codebook.format
            fmt_fields = {
                "code_bits": q.codebook.bits,
                "mantissa_bits": fmt.mantissa_bits,
                "exponent_bits": fmt.exponent_bits,
            }
        bias_bits = layer.bias_bits
        if bias_bits is None:
            # as wide as the sums themselves: any bias that can matter fits, retunes included
            bias_bits = _sum_bits(core, n_in, act_bits, fmt_fields) if layer.bias else 0
        try:
            config = LayerConfig(
                core,
                n_in,
                n_out,
                lanes=min(layer.lanes, n_out),
                act_bits=act_bits,
                out_bits=layer.out_bits,
                bias_bits=bias_bits,
                relu=layer.relu,
                **fmt_fields,
            )
        except UserError as error:
            raise UserError(f"layer {layer.weight!r}: {error}") from None
        bias = None
        if layer.bias:
            bias = _integer_bias(layer, request, tensors, q, input_scale, config)
        shift = layer.shift
        if shift is None and calibration is not None:
            shift = calibrated_shift(config, weights, bias, calibration)
        elif shift is None:
            shift = auto_shift(weights, config.act_bits, config.out_bits, config.max_shift)
        elif not 0 <= shift <= config.max_shift:
            raise UserError(
                f"layer {layer.weight!r}: shift must be 0..{config.max_shift}, not {shift}"
            )
        if calibration is not None:
            calibration = reference_layer(config.arithmetic(shift), weights, calibration, bias)
        item = BuiltLayer(layer.weight, config, stored, q, shift, bias, input_scale)
        if layer.lanes > n_out:
            item.notes.append(f"lanes reduced from {layer.lanes} to n_out = {n_out}")
        built.append(item)
        act_bits, input_scale = config.out_bits, item.output_scale
    return built


def _sum_bits(core: str, n_in: int, act_bits: int, fmt_fields: dict) -> int:
    """Accumulator width of the layer without bias: the default bias width."""
    bare = LayerConfig(core, n_in, 1, act_bits=act_bits, **fmt_fields)
    return min(bare.accumulator_bits, 32)


def _integer_bias(layer, request, tensors, q, input_scale, config) -> np.ndarray:
    if request.source is None:
        raise UserError(f"layer {layer.weight!r} names a bias but the network has no source file")
    if input_scale is None:
        raise UserError(f"layer {layer.weight!r} has a bias: the network needs input_scale")
    real = _float_tensor(tensors, layer.bias, request.source).reshape(-1)
    if real.shape != (config.n_out,):
        raise UserError(f"bias {layer.bias!r} has {real.size} values, expected {config.n_out}")
    integer = np.rint(real / (q.codebook.weight_scale * input_scale)).astype(np.int64)
    limit = 1 << (config.bias_bits - 1)
    if np.any(integer < -limit) or np.any(integer >= limit):
        needed = int(np.abs(integer).max()).bit_length() + 1
        raise UserError(
            f"bias {layer.bias!r} needs {needed} bits; raise bias_bits (now {config.bias_bits})"
        )
    return integer


# --- emission -----------------------------------------------------------------------------------


def build_network(layers: list[BuiltLayer]):
    """The Amaranth ``Network`` for built layers (imports amaranth)."""
    from jaynes_hw.gateware import Int8LayerCore, LayerCore, Network

    cores = []
    for layer in layers:
        if layer.config.kind == "int8":
            cores.append(
                Int8LayerCore(layer.config, layer.stored, shift=layer.shift, bias=layer.bias)
            )
        else:
            cores.append(
                LayerCore(
                    layer.config,
                    layer.stored,
                    layer.quantized.codebook,
                    shift=layer.shift,
                    bias=layer.bias,
                )
            )
    return Network(cores)


def _ports(network) -> list[dict]:
    from amaranth.lib import wiring

    ports = [
        {"name": "clk", "direction": "input", "width": 1},
        {"name": "rst", "direction": "input", "width": 1},
    ]
    for path, member, value in network.signature.flatten(network):
        shape = value.shape()
        ports.append(
            {
                "name": "__".join(str(part) for part in path),
                "direction": "input" if member.flow == wiring.In else "output",
                "width": shape.width,
                "signed": shape.signed,
            }
        )
    return ports


def render(name: str, layers: list[BuiltLayer], provenance: dict) -> dict[str, str]:
    """Every output file's text, by file name (nothing is written here)."""
    from amaranth.back import verilog

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UserError(f"name {name!r} is not a Verilog identifier (letters, digits, _)")
    network = build_network(layers)
    files = {f"{name}.v": verilog.convert(network, name=name, emit_src=False)}
    layer_records = []
    for index, (layer, core) in enumerate(zip(layers, network.layers, strict=True)):
        config = layer.config
        memories = {"codes": f"{name}.layer{index}.codes.hex"}
        files[memories["codes"]] = hex_text(
            pack_code_rows(config, core.stored_words), config.lanes * config.code_bits
        )
        if config.bias_bits:
            memories["bias"] = f"{name}.layer{index}.bias.hex"
            files[memories["bias"]] = hex_text(
                pack_bias_rows(config, core.initial_bias), config.lanes * config.bias_bits
            )
        codebook = layer.quantized.codebook
        layer_records.append(
            {
                "name": layer.name,
                "base_address": network.layer_bases[index],
                "config": config.to_json(),
                "shift": layer.shift,
                "codebook": codebook.to_json() if config.kind == "lognormal" else None,
                "weight_scale": layer.weight_scale,
                "input_scale": layer.input_scale,
                "output_scale": layer.output_scale,
                "bias": None if layer.bias is None else layer.bias.tolist(),
                "memories": memories,
                "register_map": RegisterMap.of(config).to_json(),
                "notes": layer.notes,
            }
        )
    slowest = max(layer.config.cycles_per_vector for layer in layers)
    manifest = {
        "format": "jaynes-hw-manifest",
        "version": 1,
        "top": name,
        "verilog": f"{name}.v",
        "clock": {"port": "clk", "reset": "rst", "reset_kind": "synchronous, active high"},
        "ports": _ports(network),
        "streams": {
            "x": {"direction": "input", "payload_bits": layers[0].config.act_bits, "signed": True},
            "y": {
                "direction": "output",
                "payload_bits": layers[-1].config.out_bits,
                "signed": True,
            },
            "protocol": "valid/ready (amaranth.lib.stream): a transfer when both are 1",
        },
        "bus": {
            "address_bits": network.bus.addr.shape().width,
            "data_bits": 32,
            "layer_address_bits": network.layer_address_bits,
            "protocol": "hold w_stb or r_stb with addr/w_data until ack (one cycle, one cycle "
            "after acceptance); r_data valid with ack",
        },
        "timing": {
            "layer_latency_cycles": [layer.config.PIPELINE_LATENCY for layer in layers],
            "vector_period_cycles": slowest,
            "macs_per_vector": sum(layer.config.n_in * layer.config.n_out for layer in layers),
            "full_rate": all(layer.config.full_rate for layer in layers),
            "note": "latency: a pass's first result after its last input beat; a vector enters "
            "every vector_period_cycles when y is always ready and every layer is full_rate",
        },
        "layers": layer_records,
        "source": provenance,
    }
    files[f"{name}.json"] = json.dumps(json_safe(manifest), indent=2) + "\n"
    return files


def write_files(directory: Path, files: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in files.items():
        path = directory / file_name
        with atomic_output(path) as temporary:
            temporary.write_text(text)
        written.append(path)
    return written


# --- command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML network description")
    parser.add_argument("--weights", type=Path, help="quantized file from `jaynes-hw quantize`")
    parser.add_argument("--core", choices=CORE_KINDS, help="core kind (default: the config's)")
    parser.add_argument(
        "--scheme",
        choices=HARDWARE_SCHEMES,
        help="codebook scheme of lognormal cores quantized here (default: the config's)",
    )
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output directory")
    parser.add_argument("--name", help="top module and file stem")


def default_request() -> NetworkRequest:
    """The built-in default network (``jaynes_hw/data/default_network.toml``)."""
    resource = resources.files("jaynes_hw") / "data" / DEFAULT_CONFIG
    with resources.as_file(resource) as path:
        return parse_config(Path(path))


def request_for(args) -> tuple[NetworkRequest, str, str, dict]:
    """The network request, core kind, output name and provenance the arguments ask for."""
    if args.config is not None:
        request = parse_config(args.config)
        provenance = {"config": args.config.name}
    elif args.weights is not None:
        meta, layers = load_quantized(args.weights)
        request = NetworkRequest(
            name=re.sub(r"\W", "_", args.weights.name.split(".")[0]) or "network",
            layers=tuple(
                LayerRequest(layer.name, relu=index < len(layers) - 1)
                for index, layer in enumerate(layers)
            ),
        )
        provenance = {"weights": args.weights.name, "quantized_from": meta.get("source")}
    else:
        request = default_request()
        provenance = {"config": f"jaynes_hw/data/{DEFAULT_CONFIG} (built-in default)"}
    if args.weights is not None:
        provenance["weights"] = args.weights.name
    core = args.core or request.core
    name = request.name if core == request.core else f"{request.name}_{core}"
    if args.scheme is not None and args.scheme != request.scheme:
        if args.weights is not None or core != "lognormal":
            raise UserError("--scheme applies to lognormal cores quantized from float weights")
        request = replace(request, scheme=args.scheme)
        name = f"{name}_{args.scheme}"
    return request, core, args.name or name, provenance


def generate(args) -> list[Path]:
    """Build what the arguments ask for and write it; returns the files written."""
    request, core, name, provenance = request_for(args)
    layers = build_layers(request, core, args.weights)
    files = render(name, layers, provenance)
    return write_files(args.out, files)


def run(args) -> int:
    """Generate and say what was written (the CLI action)."""
    return _report(generate(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaynes_hw.generate",
        description="Emit Verilog for a network of layer cores, with its manifest.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    from jaynes_hw.cli import run_reporting_errors

    return run_reporting_errors(lambda: run(args), program="python -m jaynes_hw.generate")


def _report(written: list[Path]) -> int:
    manifest = next(path for path in written if path.suffix == ".json")
    document = json.loads(manifest.read_text())
    shapes = " -> ".join(
        [str(document["layers"][0]["config"]["n_in"])]
        + [str(layer["config"]["n_out"]) for layer in document["layers"]]
    )
    kind = document["layers"][0]["config"]["kind"]
    print(
        f"generated {document['top']}: {len(document['layers'])} {kind} layers ({shapes}), "
        f"one vector every {document['timing']['vector_period_cycles']} cycles"
    )
    for path in written:
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
