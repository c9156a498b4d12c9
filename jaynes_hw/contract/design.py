"""A generated design as it is on disk, with the reference that says what it must compute.

``Design.from_manifest(path)`` rebuilds the design from the files the generator wrote:
layer parameters, codebooks, shifts and real scales from the manifest (``NAME.json``);
codes, biases and channel scales from the memory images beside it. Nothing is regenerated,
so a Verilog file that was edited or broken after generation disagrees with
``Design.forward``, which is the bit-exact reference (``jaynes_hw.contract.reference``) of
what the design holds.

A ``Design`` is mutable on purpose: a testbench or a tuner changes a layer's codebook, shift
or codes as it writes them through the configuration port, and ``forward`` follows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaynes_hw.contract.codebook import weights_from_levels
from jaynes_hw.contract.geometry import Convolution, PerInference, run_layer
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.manifest import LayerEntry, Manifest
from jaynes_hw.contract.memory_image import (
    read_hex,
    unpack_bias_rows,
    unpack_code_rows,
    unpack_scale_rows,
)
from jaynes_hw.contract.registers import LayerDriver, RegisterMap


@dataclass
class DesignLayer(PerInference):
    """One layer's contents as the hardware holds them (after the writes applied so far).

    Attributes
    ----------
    config : LayerConfig
    stored : int64 array (n_out, n_in)
        Codes (lognormal) or signed int8 weights (int8).
    mantissas, exponents : int64 arrays (K,), or None for int8 layers
        The codebook registers.
    shift : int
    bias : int64 array (n_out,) or None
    base_address : int
        Word address of the layer's registers on the network's bus.
    convolution : Convolution or None
        A convolution layer's window and pooling (the codes are then one position's dense
        layer, ``(out_channels, window_size)``).
    scales : int64 array (n_out,) or None
        The channel scales (None without ``scale_bits``).
    """

    config: LayerConfig
    stored: np.ndarray
    mantissas: np.ndarray | None
    exponents: np.ndarray | None
    shift: int
    bias: np.ndarray | None
    base_address: int
    convolution: Convolution | None = None
    scales: np.ndarray | None = None

    @property
    def driver(self) -> LayerDriver:
        """Register writes for this layer, at its place on the network's bus."""
        return LayerDriver(RegisterMap.of(self.config), base=self.base_address)

    @property
    def levels(self) -> np.ndarray:
        """Integer levels L[k] = m[k] << e[k]."""
        return self.mantissas << self.exponents

    def weights(self) -> np.ndarray:
        """Signed integer weights s * L[k] (n_out, n_in)."""
        if self.config.kind == "int8":
            return self.stored
        return weights_from_levels(self.stored, self.config.code_bits, self.levels)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The layer's bit-exact outputs (batch, values_out) for int inputs (batch,
        values_in); a convolution is the dense layer at every position, then its pooling."""
        arithmetic = self.config.arithmetic(self.shift)
        return run_layer(arithmetic, self.weights(), x, self.bias, self.convolution, self.scales)


@dataclass
class Design:
    """The whole network: ``forward`` gives what the Verilog must output, bit for bit."""

    top: str
    verilog: Path
    layers: list[DesignLayer]
    manifest: Manifest

    @classmethod
    def from_manifest(cls, path: str | Path) -> Design:
        """Read a manifest and the memory images it names; ``UserError`` on a bad file."""
        path = Path(path)
        manifest = Manifest.read(path)
        layers = [_layer(path.parent, entry) for entry in manifest.layers]
        return cls(manifest.top, path.parent / manifest.verilog, layers, manifest)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs (batch, n_out) of the last layer for int inputs (batch, n_in)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def copy(self) -> Design:
        return copy.deepcopy(self)

    def codebook_writes(self) -> list[tuple[int, int]]:
        """Configuration-port writes that load every lognormal layer's codebook as this
        design holds it: K level writes and a commit per layer."""
        writes = []
        for layer in self.layers:
            if layer.config.kind == "lognormal":
                writes += layer.driver.level_writes(layer.mantissas, layer.exponents)
                writes += layer.driver.commit_writes()
        return writes

    def start_up_writes(self) -> list[tuple[int, int]]:
        """Configuration-port writes the design needs before its first vector: the codes of
        every layer kept in SPRAM (``code_memory = "spram"``), which no bitstream loads,
        several codes a write (``LayerDriver.packed_code_writes``)."""
        writes = []
        for layer in self.layers:
            if layer.config.code_memory == "spram":
                writes += layer.driver.packed_code_writes(layer.stored)
        return writes

    @property
    def act_bits(self) -> int:
        return self.layers[0].config.act_bits

    @property
    def out_bits(self) -> int:
        return self.layers[-1].config.out_bits

    @property
    def n_in(self) -> int:
        """Input values per inference."""
        return self.layers[0].values_in

    @property
    def n_out(self) -> int:
        """Output values per inference."""
        return self.layers[-1].values_out

    @property
    def vector_period(self) -> int:
        """Cycles between vectors at full rate (the layers' configs never change)."""
        return self.manifest.vector_period_cycles

    @property
    def full_rate(self) -> bool:
        return self.manifest.full_rate

    def random_inputs(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random input vectors over the whole signed ``act_bits`` range."""
        half = 1 << (self.act_bits - 1)
        return rng.integers(-half, half, size=(count, self.n_in))


def _layer(directory: Path, entry: LayerEntry) -> DesignLayer:
    config = entry.config
    stored = unpack_code_rows(config, read_hex(directory / entry.memories["codes"]))
    if config.kind == "int8":
        stored = np.where(stored >= 128, stored - 256, stored)
    bias = None
    if config.bias_bits:
        bias = unpack_bias_rows(config, read_hex(directory / entry.memories["bias"]))
    scales = None
    if config.scale_bits:
        scales = unpack_scale_rows(config, read_hex(directory / entry.memories["scales"]))
    mantissas = exponents = None
    if entry.codebook is not None:
        mantissas, exponents = entry.codebook.mantissas.copy(), entry.codebook.exponents.copy()
    return DesignLayer(
        config, stored, mantissas, exponents, entry.shift, bias, entry.base_address,
        entry.convolution, scales,
    )  # fmt: skip
