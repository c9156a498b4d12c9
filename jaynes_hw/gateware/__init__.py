"""Gateware: the Amaranth components, the only package that builds hardware.

- ``bus.ConfigBus``: the configuration port's signature;
- ``datapath.LayerDatapath``: the folded multiply-accumulate pipeline, tunables as ports;
- ``core.LayerCore`` / ``core.Int8LayerCore``: datapath + register file
  (``core.ConfiguredLayer`` is their common base);
- ``window``: convolution and pooling on channel-last pixel streams (``WindowGenerator``,
  ``PoolReducer``, and ``ConvLayer``, a folded core behind a window generator);
- ``network.Network``: layers chained stream to stream behind one bus;
- ``uart``: 8N1 ``UARTReceiver`` / ``UARTTransmitter``;
- ``host_link.HostLink``: the board side of the host protocol.

Amaranth is imported here, in ``jaynes_hw.boards`` (board tops and their simulation) and in
``jaynes_hw.generate.emit`` (Verilog export), nowhere else; ``tests/test_layering.py``
checks it.
"""

from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import ConfiguredLayer, Int8LayerCore, LayerCore
from jaynes_hw.gateware.host_link import HostLink
from jaynes_hw.gateware.network import Network
from jaynes_hw.gateware.window import ConvLayer

__all__ = [
    "ConfigBus",
    "ConfiguredLayer",
    "ConvLayer",
    "HostLink",
    "Int8LayerCore",
    "LayerCore",
    "Network",
]
