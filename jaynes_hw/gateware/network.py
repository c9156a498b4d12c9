"""Layers chained stream to stream, behind one configuration bus."""

from __future__ import annotations

import itertools

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import ConfiguredLayer
from jaynes_hw.gateware.stream_fifo import StreamFIFO
from jaynes_hw.support.errors import UserError


class Network(wiring.Component):
    """Layer cores in a chain: layer k's ``y`` feeds layer k+1's ``x`` through a FIFO.

    Each FIFO holds one whole vector (layer k's n_out values), so a layer that replays its
    buffered input for its later passes never holds back the layer before it.

    Parameters
    ----------
    layers : list of LayerCore / Int8LayerCore
        Each layer's ``n_in`` must equal the previous ``n_out`` and its ``act_bits`` the
        previous ``out_bits``.

    Attributes
    ----------
    x : In(stream.Signature(signed(first act_bits)))
    y : Out(stream.Signature(signed(last out_bits)))
    bus : In(ConfigBus)
        Layer k's registers at ``layer_bases[k] = k << layer_address_bits``; addresses that
        map to no layer read 0 and ignore writes.

    Throughput: the slowest layer's: one vector every ``max(passes * (n_in + 1))`` cycles when
    every layer is at full rate and ``y`` is always ready.
    """

    def __init__(self, layers: list[ConfiguredLayer]):
        if not layers:
            raise UserError("a network needs at least one layer")
        for before, after in itertools.pairwise(layers):
            if after.config.n_in != before.config.n_out:
                raise UserError(
                    f"a layer with n_in {after.config.n_in} cannot follow one with n_out "
                    f"{before.config.n_out}"
                )
            if after.config.act_bits != before.config.out_bits:
                raise UserError(
                    f"a layer with act_bits {after.config.act_bits} cannot follow one with "
                    f"out_bits {before.config.out_bits}"
                )
        self.layers = list(layers)
        self.layer_address_bits = max(layer.register_map.address_bits for layer in layers)
        select_bits = max(len(layers) - 1, 0).bit_length()
        self.layer_bases = [index << self.layer_address_bits for index in range(len(layers))]
        super().__init__(
            {
                "x": In(stream.Signature(signed(layers[0].config.act_bits))),
                "y": Out(stream.Signature(signed(layers[-1].config.out_bits))),
                "bus": In(ConfigBus(self.layer_address_bits + select_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer{index}"] = layer
        wiring.connect(m, wiring.flipped(self.x), self.layers[0].x)
        for index, (before, after) in enumerate(itertools.pairwise(self.layers)):
            # one vector of slack between layers (see the class docstring)
            fifo = StreamFIFO(before.config.out_bits, max(before.config.n_out, 2))
            m.submodules[f"fifo{index}"] = fifo
            wiring.connect(m, before.y, fifo.w)
            wiring.connect(m, fifo.r, after.x)
        wiring.connect(m, self.layers[-1].y, wiring.flipped(self.y))

        # Address decoding, registered: a request is taken into registers here, with the
        # strobe of the one layer it addresses decided at that edge, so every layer sees its
        # strobes, address and data from flip-flops. The request is held until that layer's
        # ack, which goes straight back (one cycle more than the layer's own latency); an
        # address beyond a layer's own space, or beyond the last layer, is acknowledged here
        # with 0 the cycle after it is taken. ``active`` stays set through the ack cycle, so
        # the initiator's strobe, still high then, is not taken twice.
        bus = self.bus
        select = bus.addr[self.layer_address_bits :]
        local = bus.addr[: self.layer_address_bits]
        active = Signal()
        take = (bus.w_stb | bus.r_stb) & ~active
        request_addr = Signal(self.layer_address_bits)
        request_data = Signal.like(bus.w_data)
        hole = Signal()  # an unmapped request, acknowledged by ``hole_ack``
        hole_ack = Signal()
        acks, read_data, strobes = [], [], []
        for index, layer in enumerate(self.layers):
            own_bits = layer.register_map.address_bits
            chosen = (select == index) & (local[own_bits:] == 0)
            write, read = Signal(name=f"layer{index}_w_stb"), Signal(name=f"layer{index}_r_stb")
            with m.If(take):
                m.d.sync += [write.eq(bus.w_stb & chosen), read.eq(bus.r_stb & chosen)]
            with m.Elif(layer.bus.ack):
                m.d.sync += [write.eq(0), read.eq(0)]
            m.d.comb += [
                layer.bus.addr.eq(request_addr[:own_bits]),
                layer.bus.w_data.eq(request_data),
                layer.bus.w_stb.eq(write),
                layer.bus.r_stb.eq(read),
            ]
            acks.append(layer.bus.ack)
            read_data.append(layer.bus.r_data)  # zero unless that layer acknowledges
            strobes.append(chosen)
        ack = hole_ack
        data = 0
        for layer_ack, layer_data in zip(acks, read_data, strict=True):
            ack = ack | layer_ack
            data = data | layer_data
        with m.If(take):
            m.d.sync += [
                active.eq(1),
                request_addr.eq(local),
                request_data.eq(bus.w_data),
                hole.eq(~Cat(*strobes).any()),
            ]
        with m.Elif(ack):
            m.d.sync += [active.eq(0), hole.eq(0)]
        m.d.sync += hole_ack.eq(hole & ~hole_ack)
        m.d.comb += [bus.ack.eq(ack), bus.r_data.eq(data)]
        return m
