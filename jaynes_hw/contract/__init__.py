"""The contract: what every stage agrees on, in pure Python (no Amaranth, no simulator).

- ``reference``: the arithmetic, bit for bit (``reference_layer``, ``LayerArithmetic``,
  ``accumulator_width``), the float model and its error bound;
- ``codebook``: the level register format (``LevelFormat``), ``Codebook``, code packing;
- ``layer_config``: ``LayerConfig``, a hardware layer and every width derived from it;
- ``registers``: the configuration port's ``RegisterMap`` and the transport-free
  ``LayerDriver``;
- ``memory_image``: code and bias memory rows and their ``.hex`` files;
- ``manifest``: ``Manifest``, the generated design's description (its only writer and reader);
- ``design``: ``Design``, a generated design rebuilt from its manifest and memory images,
  whose ``forward`` is what the hardware must output;
- ``host_protocol``: the board's UART byte protocol (``HostCommand``), shared by the gateware
  and the host client.
"""

from jaynes_hw.contract.codebook import Codebook, LevelFormat
from jaynes_hw.contract.design import Design, DesignLayer
from jaynes_hw.contract.layer_config import CORE_KINDS, LayerConfig
from jaynes_hw.contract.manifest import LayerEntry, Manifest, is_manifest
from jaynes_hw.contract.reference import LayerArithmetic, reference_layer
from jaynes_hw.contract.registers import LayerDriver, RegisterMap

__all__ = [
    "CORE_KINDS",
    "Codebook",
    "Design",
    "DesignLayer",
    "LayerArithmetic",
    "LayerConfig",
    "LayerDriver",
    "LayerEntry",
    "LevelFormat",
    "Manifest",
    "RegisterMap",
    "is_manifest",
    "reference_layer",
]
