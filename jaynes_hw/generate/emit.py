"""Emission: the Amaranth network of built layers, its Verilog, memory images and manifest.

The only step of the generator that imports Amaranth. ``render`` returns every output
file's text by name and writes nothing; the caller writes them atomically.
"""

from __future__ import annotations

import re

from amaranth.back import verilog
from amaranth.lib import wiring

from jaynes_hw.contract.manifest import LayerEntry, Manifest
from jaynes_hw.contract.memory_image import (
    hex_text,
    pack_bias_rows,
    pack_code_rows,
    pack_scale_rows,
)
from jaynes_hw.gateware import Int8LayerCore, LayerCore, Network
from jaynes_hw.gateware.code_memory import PrimitivesOf
from jaynes_hw.gateware.window import ConvLayer
from jaynes_hw.generate.build import BuiltLayer
from jaynes_hw.support.errors import UserError


def build_network(layers: list[BuiltLayer], *, vector_ports: bool = False) -> Network:
    """The Amaranth ``Network`` of built layers, each core at its reset values (``Network``
    says what ``vector_ports`` does)."""
    cores = []
    for layer in layers:
        # a convolution's strengths change between images, not between its positions
        every = 1 if layer.convolution is None else layer.convolution.window.positions
        registers = {"shift": layer.shift, "bias": layer.bias, "scales": layer.scales}
        if layer.config.kind == "int8":
            core = Int8LayerCore(layer.config, layer.stored, vectors_per_commit=every, **registers)
        else:
            core = LayerCore(
                layer.config, layer.stored, layer.quantized.codebook, vectors_per_commit=every,
                **registers,
            )  # fmt: skip
        if layer.convolution is not None:
            convolution = layer.convolution
            core = ConvLayer(convolution.window, core, convolution.pooling)
        cores.append(core)
    return Network(cores, vector_ports=vector_ports)


def network_ports(network: Network) -> list[dict]:
    """Every port of the network's top module, as the manifest lists them."""
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
    """Every output file's text, by file name: ``NAME.v``, ``NAME.json`` (the manifest) and
    the memory images ``NAME.layerK.codes.hex`` / ``.bias.hex`` / ``.scales.hex``. Nothing
    is written here."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UserError(f"name {name!r} is not a Verilog identifier (letters, digits, _)")
    network = build_network(layers)
    # a layer in SPRAM makes the Verilog instantiate the iCE40 UltraPlus primitive
    in_spram = any(layer.config.code_memory == "spram" for layer in layers)
    platform = PrimitivesOf() if in_spram else None
    files = {f"{name}.v": verilog.convert(network, name=name, platform=platform, emit_src=False)}
    entries = []
    for index, (layer, core) in enumerate(zip(layers, network.layers, strict=True)):
        config = layer.config
        memories = {"codes": f"{name}.layer{index}.codes.hex"}
        files[memories["codes"]] = hex_text(
            pack_code_rows(config, core.stored_words), config.lanes * config.code_bits
        )
        if config.bias_bits:
            memories["bias"] = f"{name}.layer{index}.bias.hex"
            files[memories["bias"]] = hex_text(
                pack_bias_rows(config, core.initial_bias), config.bias_bits
            )
        if config.scale_bits:
            memories["scales"] = f"{name}.layer{index}.scales.hex"
            files[memories["scales"]] = hex_text(
                pack_scale_rows(config, core.initial_scales), config.scale_bits
            )
        entries.append(
            LayerEntry(
                name=layer.name,
                base_address=network.layer_bases[index],
                config=config,
                shift=layer.shift,
                codebook=layer.quantized.codebook if config.kind == "lognormal" else None,
                weight_scale=layer.weight_scale,
                input_scale=layer.input_scale,
                output_scale=layer.output_scale,
                bias=None if layer.bias is None else layer.bias.tolist(),
                memories=memories,
                notes=layer.notes,
                convolution=layer.convolution,
                scales=None if layer.scales is None else layer.scales.tolist(),
            )
        )
    manifest = Manifest(
        top=name,
        ports=network_ports(network),
        bus_address_bits=network.bus.addr.shape().width,
        layer_address_bits=network.layer_address_bits,
        layers=tuple(entries),
        source=provenance,
    )
    files[f"{name}.json"] = manifest.to_text()
    return files
