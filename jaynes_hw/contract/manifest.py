"""The manifest (``NAME.json``): what a generated design is, written beside its Verilog.

This module is the manifest's only writer and only reader. The generator builds a
``Manifest`` and writes ``to_text()``; the simulator, the board client, the tuner and the
synthesis flow read it back with ``Manifest.read``. The document::

    {"format": "jaynes-hw-manifest", "version": 1, "top", "verilog",
     "clock": {"port", "reset", "reset_kind"},
     "ports": [{"name", "direction", "width", "signed"}],     # clk and rst without "signed"
     "streams": {"x": {...}, "y": {...}, "protocol"},
     "bus": {"address_bits", "data_bits", "layer_address_bits", "protocol"},
     "timing": {"layer_latency_cycles", "vector_period_cycles", "macs_per_vector",
                "full_rate", "note"},
     "layers": [{"name", "base_address", "config", "shift", "codebook", "weight_scale",
                 "input_scale", "output_scale", "bias", "scales", "memories", "register_map",
                 "notes", ["convolution"]}],
     "source": {...}}                                          # how the design was made

``config`` is ``LayerConfig.to_json``, ``codebook`` is ``Codebook.to_json`` (null for int8
layers), ``register_map`` is ``RegisterMap.to_json``; a convolution layer has ``convolution``
(``Convolution.to_json``: its window and pooling; the config is then one position's dense
layer), a dense layer none; ``memories`` names the ``.hex`` files of
the layer's code (and bias, and channel scale) memory. ``scales`` are the integer channel
scales c[o] (null without ``scale_bits``); ``weight_scale``, ``input_scale`` and
``output_scale`` are floats in the real units of the trained network (the last two null when
the network gives no input scale).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.contract.geometry import Convolution, PerInference, chain_text
from jaynes_hw.contract.layer_config import BUS_DATA_BITS, LayerConfig, network_vector_period
from jaynes_hw.contract.registers import RegisterMap
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import json_safe

MANIFEST_FORMAT = "jaynes-hw-manifest"
MANIFEST_VERSION = 1
CLOCK = {"port": "clk", "reset": "rst", "reset_kind": "synchronous, active high"}
STREAM_PROTOCOL = "valid/ready (amaranth.lib.stream): a transfer when both are 1"
BUS_PROTOCOL = (
    "hold w_stb or r_stb with addr/w_data until ack (one cycle, one cycle after acceptance); "
    "r_data valid with ack"
)
TIMING_NOTE = (
    "latency: a pass's first result after its last input beat (an unrolled layer: at most, "
    "its results after its input vector); a vector enters every vector_period_cycles when y "
    "is always ready and every layer is full_rate (with a convolution layer, at most that)"
)


@dataclass(frozen=True)
class LayerEntry(PerInference):
    """One layer of a manifest.

    Attributes
    ----------
    name : str
        The weight tensor (or quantized layer) it was made from.
    base_address : int
        Word address of its registers on the network's configuration bus.
    config : LayerConfig
    shift : int
        Reset value of the output shift register.
    codebook : Codebook or None
        Reset value of the codebook registers (None for int8 layers).
    weight_scale : float
        Real value of one level unit.
    input_scale, output_scale : float or None
        Real value of one input / output LSB.
    bias : list of int or None
        Reset value of the bias memory.
    memories : dict
        ``{"codes": file name, "bias": file name, "scales": file name}`` of the ``.hex``
        memory images (bias and scales only when the layer has them).
    notes : list of str
        What the generator changed from the request (e.g. lanes clamped to n_out).
    convolution : Convolution or None
        A convolution layer's window and pooling (``config`` is then one position's dense
        layer); None for a dense layer.
    scales : list of int or None
        Reset value of the channel scale memory (None without ``scale_bits``).
    """

    name: str
    base_address: int
    config: LayerConfig
    shift: int
    codebook: Codebook | None
    weight_scale: float
    input_scale: float | None
    output_scale: float | None
    bias: list[int] | None
    memories: dict[str, str]
    notes: list[str] = field(default_factory=list)
    convolution: Convolution | None = None
    scales: list[int] | None = None

    def to_json(self) -> dict:
        record = {
            "name": self.name,
            "base_address": self.base_address,
            "config": self.config.to_json(),
            "shift": self.shift,
            "codebook": None if self.codebook is None else self.codebook.to_json(),
            "weight_scale": self.weight_scale,
            "input_scale": self.input_scale,
            "output_scale": self.output_scale,
            "bias": self.bias,
            "scales": self.scales,
            "memories": self.memories,
            "register_map": RegisterMap.of(self.config).to_json(),
            "notes": self.notes,
        }
        if self.convolution is not None:
            record["convolution"] = self.convolution.to_json()
        return record

    @classmethod
    def from_json(cls, record: dict) -> LayerEntry:
        config = LayerConfig.from_json(record["config"])
        codebook = record.get("codebook")
        codebook = None if codebook is None else Codebook.from_json(codebook)
        if config.kind == "lognormal":
            if codebook is None:
                raise UserError(f"layer {record['name']!r} is lognormal but has no codebook")
            fmt = codebook.format
            if (codebook.bits, fmt.mantissa_bits, fmt.exponent_bits) != (
                config.code_bits,
                config.mantissa_bits,
                config.exponent_bits,
            ):
                raise UserError(f"layer {record['name']!r}: the codebook does not fit the core")
        memories = {str(key): str(value) for key, value in record["memories"].items()}
        if (
            "codes" not in memories
            or (config.bias_bits and "bias" not in memories)
            or (config.scale_bits and "scales" not in memories)
        ):
            raise UserError(f"layer {record['name']!r}: the manifest lacks a memory file name")
        bias = record.get("bias")
        scales = record.get("scales")
        convolution = record.get("convolution")
        if convolution is not None:
            convolution = Convolution.from_json(convolution)
            if convolution.window.window_size != config.n_in:
                raise UserError(f"layer {record['name']!r}: the window does not fit the core")
        return cls(
            name=str(record["name"]),
            base_address=int(record["base_address"]),
            config=config,
            shift=int(record["shift"]),
            codebook=codebook,
            weight_scale=float(record["weight_scale"]),
            input_scale=_optional_float(record.get("input_scale")),
            output_scale=_optional_float(record.get("output_scale")),
            bias=None if bias is None else [int(value) for value in bias],
            memories=memories,
            notes=[str(note) for note in record.get("notes", [])],
            convolution=convolution,
            scales=None if scales is None else [int(value) for value in scales],
        )


def chain_vector_period(layers) -> int:
    """Cycles between inferences of layers (each with ``config`` and ``convolution``) chained
    as ``jaynes_hw.gateware.network.Network`` chains them, at full rate: the cores'
    ``network_vector_period``, or a convolution's image time (``Convolution.image_cycles``,
    a bound) when that is longer."""
    images = [
        layer.convolution.image_cycles(layer.config.cycles_per_vector)
        for layer in layers
        if layer.convolution is not None
    ]
    return max([network_vector_period([layer.config for layer in layers]), *images])


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Manifest:
    """A generated design: its top module, ports, bus, layers and provenance.

    Attributes
    ----------
    top : str
        Top module name and file stem (``top.v``, ``top.json``).
    ports : list of dict
        Every port of the top module: ``name``, ``direction``, ``width`` (and ``signed``).
    bus_address_bits, layer_address_bits : int
        Width of the configuration bus address; layer k's registers start at
        ``k << layer_address_bits``.
    layers : tuple of LayerEntry
    source : dict
        How the design was made (the config file, the quantized file ...).
    """

    top: str
    ports: list[dict]
    bus_address_bits: int
    layer_address_bits: int
    layers: tuple[LayerEntry, ...]
    source: dict

    @property
    def verilog(self) -> str:
        """File name of the Verilog, beside the manifest."""
        return f"{self.top}.v"

    @property
    def shape_text(self) -> str:
        """The values along the chain (``geometry.chain_text``)."""
        return chain_text(
            [(layer.config.n_in, layer.config.n_out, layer.convolution) for layer in self.layers]
        )

    @property
    def vector_period_cycles(self) -> int:
        """Cycles between vectors at full rate: the slowest layer's, or adapter's
        (``network_vector_period``; the generated top has element streams)."""
        return chain_vector_period(self.layers)

    @property
    def full_rate(self) -> bool:
        """Whether ``vector_period_cycles`` is exact: every core ``full_rate`` and no
        convolution (whose image time is a bound, ``Convolution.image_cycles``)."""
        return all(layer.config.full_rate and layer.convolution is None for layer in self.layers)

    def to_json(self) -> dict:
        first, last = self.layers[0].config, self.layers[-1].config
        configs = [layer.config for layer in self.layers]
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "top": self.top,
            "verilog": self.verilog,
            "clock": dict(CLOCK),
            "ports": self.ports,
            "streams": {
                "x": {"direction": "input", "payload_bits": first.act_bits, "signed": True},
                "y": {"direction": "output", "payload_bits": last.out_bits, "signed": True},
                "protocol": STREAM_PROTOCOL,
            },
            "bus": {
                "address_bits": self.bus_address_bits,
                "data_bits": BUS_DATA_BITS,
                "layer_address_bits": self.layer_address_bits,
                "protocol": BUS_PROTOCOL,
            },
            "timing": {
                "layer_latency_cycles": [config.latency_cycles for config in configs],
                "vector_period_cycles": self.vector_period_cycles,
                "macs_per_vector": sum(layer.macs for layer in self.layers),
                "full_rate": self.full_rate,
                "note": TIMING_NOTE,
            },
            "layers": [layer.to_json() for layer in self.layers],
            "source": self.source,
        }

    def to_text(self) -> str:
        """The manifest file's text: indented JSON, NaN and infinity as null."""
        return json.dumps(json_safe(self.to_json()), indent=2) + "\n"

    @classmethod
    def from_json(cls, document: dict) -> Manifest:
        """Read a manifest document; raises ``UserError`` when it is not one of ours, and
        ``KeyError``/``TypeError``/``ValueError`` when it is malformed (``read`` names the
        file for those)."""
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise UserError("not a jaynes-hw manifest")
        if document.get("version") != MANIFEST_VERSION:
            raise UserError(f"unsupported manifest version {document.get('version')!r}")
        layers = tuple(LayerEntry.from_json(record) for record in document["layers"])
        if not layers:
            raise UserError("the manifest lists no layer")
        return cls(
            top=str(document["top"]),
            ports=list(document["ports"]),
            bus_address_bits=int(document["bus"]["address_bits"]),
            layer_address_bits=int(document["bus"]["layer_address_bits"]),
            layers=layers,
            source=dict(document.get("source", {})),
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read ``path``; every problem is a ``UserError`` naming the file."""
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise UserError(f"{path}: not a manifest ({error})") from None
        try:
            return cls.from_json(document)
        except UserError as error:
            raise UserError(f"{path}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UserError(f"{path}: not a valid jaynes-hw manifest ({error!r})") from None


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a JSON file this module wrote (the format field is checked)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == MANIFEST_FORMAT
