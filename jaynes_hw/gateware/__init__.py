"""Amaranth gateware: the only package that imports amaranth.

- ``bus.ConfigBus``: the configuration port's signature;
- ``datapath.LayerDatapath``: the folded multiply-accumulate pipeline;
- ``core.LayerCore`` / ``core.Int8LayerCore``: datapath + register file;
- ``network.Network``: layers chained stream to stream.
"""

from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import Int8LayerCore, LayerCore
from jaynes_hw.gateware.network import Network

__all__ = ["ConfigBus", "Int8LayerCore", "LayerCore", "Network"]
