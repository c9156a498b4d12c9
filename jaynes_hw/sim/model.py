"""The testbench's model of a generated network, rebuilt from the files the generator wrote.

Nothing is regenerated: the layer parameters, codebooks, shifts and scales come from the
manifest (``NAME.json``), the codes and biases from the memory files beside it, and the
outputs from ``jaynes_hw.reference``. So a Verilog file that was edited or broken after
generation disagrees with this model.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaynes_hw.codebook import weights_from_levels
from jaynes_hw.errors import UserError
from jaynes_hw.layer_config import LayerConfig
from jaynes_hw.memory_image import read_hex, unpack_bias_rows, unpack_code_rows
from jaynes_hw.reference import reference_layer
from jaynes_hw.registers import LayerDriver, RegisterMap

CONFIG_FIELDS = (
    "kind",
    "n_in",
    "n_out",
    "lanes",
    "act_bits",
    "out_bits",
    "code_bits",
    "mantissa_bits",
    "exponent_bits",
    "bias_bits",
    "relu",
)


@dataclass
class LayerModel:
    """One layer's contents as the hardware holds them (after the writes applied so far)."""

    config: LayerConfig
    stored: np.ndarray  # (n_out, n_in): codes (lognormal) or signed int8 weights
    mantissas: np.ndarray | None
    exponents: np.ndarray | None
    shift: int
    bias: np.ndarray | None
    base_address: int

    @property
    def driver(self) -> LayerDriver:
        return LayerDriver(RegisterMap.of(self.config), base=self.base_address)

    @property
    def levels(self) -> np.ndarray:
        return self.mantissas << self.exponents

    def weights(self) -> np.ndarray:
        """Signed integer weights s * L[k] (n_out, n_in)."""
        if self.config.kind == "int8":
            return self.stored
        return weights_from_levels(self.stored, self.config.code_bits, self.levels)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return reference_layer(self.config.arithmetic(self.shift), self.weights(), x, self.bias)


@dataclass
class NetworkModel:
    """The whole network: ``forward`` gives what the Verilog must output, bit for bit."""

    top: str
    verilog: Path
    layers: list[LayerModel]
    manifest: dict

    @classmethod
    def from_manifest(cls, path: str | Path) -> NetworkModel:
        path = Path(path)
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no such file") from None
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: not a manifest ({error})") from None
        if manifest.get("format") != "jaynes-hw-manifest":
            raise UserError(f"{path}: not a jaynes-hw manifest")
        layers = [_layer(path.parent, record) for record in manifest["layers"]]
        return cls(manifest["top"], path.parent / manifest["verilog"], layers, manifest)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def copy(self) -> NetworkModel:
        return copy.deepcopy(self)

    @property
    def act_bits(self) -> int:
        return self.layers[0].config.act_bits

    @property
    def n_in(self) -> int:
        return self.layers[0].config.n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].config.n_out

    @property
    def vector_period(self) -> int:
        return max(layer.config.cycles_per_vector for layer in self.layers)

    @property
    def full_rate(self) -> bool:
        return all(layer.config.full_rate for layer in self.layers)

    def random_inputs(self, rng: np.random.Generator, count: int) -> np.ndarray:
        half = 1 << (self.act_bits - 1)
        return rng.integers(-half, half, size=(count, self.n_in))


def _layer(directory: Path, record: dict) -> LayerModel:
    fields = {key: record["config"][key] for key in CONFIG_FIELDS if key in record["config"]}
    config = LayerConfig(**fields)
    memories = record["memories"]
    stored = unpack_code_rows(config, read_hex(directory / memories["codes"]))
    if config.kind == "int8":
        stored = np.where(stored >= 128, stored - 256, stored)
    bias = None
    if config.bias_bits:
        bias = unpack_bias_rows(config, read_hex(directory / memories["bias"]))
    mantissas = exponents = None
    if record.get("codebook"):
        mantissas = np.asarray(record["codebook"]["mantissas"], dtype=np.int64)
        exponents = np.asarray(record["codebook"]["exponents"], dtype=np.int64)
    return LayerModel(
        config, stored, mantissas, exponents, int(record["shift"]), bias, record["base_address"]
    )
