"""The configuration bus: a minimal word-addressed request/acknowledge port.

Signals, named from the initiator (the host side drives the ``Out`` members)::

    addr   Out(address_bits)  word address
    w_data Out(32)            data to write
    w_stb  Out(1)             request a write
    r_stb  Out(1)             request a read
    r_data In(32)             read data while a read's ack is 1; 0 in every other cycle
                              (a network ORs its targets' r_data)
    ack    In(1)              one-cycle acknowledge

Protocol: the initiator raises exactly one of ``w_stb``/``r_stb`` with ``addr`` (and
``w_data``) and holds them until it samples ``ack`` = 1; it may start the next request in
the very next cycle. A target accepts a request in a cycle where a strobe is high and it
holds no other request, and acknowledges it a fixed number of cycles later (a layer core:
five, so its decoders and read data start from flip-flops; an unmapped address: one).
This is the subset of Wishbone classic a register file needs, without byte selects;
amaranth-soc is not on PyPI.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.layer_config import BUS_DATA_BITS


class ConfigBus(wiring.Signature):
    """Signature of the configuration bus, from the initiator's side."""

    def __init__(self, address_bits: int):
        if not isinstance(address_bits, int) or address_bits < 1:
            raise TypeError(f"address_bits must be a positive integer, not {address_bits!r}")
        self.address_bits = address_bits
        super().__init__(
            {
                "addr": Out(address_bits),
                "w_data": Out(BUS_DATA_BITS),
                "w_stb": Out(1),
                "r_stb": Out(1),
                "r_data": In(BUS_DATA_BITS),
                "ack": In(1),
            }
        )

    def __eq__(self, other):
        return isinstance(other, ConfigBus) and other.address_bits == self.address_bits

    def __repr__(self):
        return f"ConfigBus({self.address_bits})"
