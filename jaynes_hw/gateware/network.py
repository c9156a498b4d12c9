"""Layers chained stream to stream, behind one configuration bus."""

from __future__ import annotations

import itertools

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import ConfiguredLayer
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

    Throughput: the slowest layer's: one vector every ``max(passes * n_in)`` cycles when
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
            fifo = SyncFIFOBuffered(width=before.config.out_bits, depth=before.config.n_out)
            m.submodules[f"fifo{index}"] = fifo
            m.d.comb += [
                fifo.w_data.eq(before.y.payload),
                fifo.w_en.eq(before.y.valid),
                before.y.ready.eq(fifo.w_rdy),
                after.x.payload.eq(fifo.r_data),
                after.x.valid.eq(fifo.r_rdy),
                fifo.r_en.eq(after.x.ready),
            ]
        wiring.connect(m, self.layers[-1].y, wiring.flipped(self.y))

        # Address decoding: the high bits pick a layer, the layer decodes the rest. An address
        # beyond a layer's own space (or beyond the last layer) is acknowledged here with 0.
        bus = self.bus
        select = bus.addr[self.layer_address_bits :]
        local = bus.addr[: self.layer_address_bits]
        unmapped = Signal()
        m.d.comb += unmapped.eq(1)
        acks, read_data = [], []
        for index, layer in enumerate(self.layers):
            own_bits = layer.register_map.address_bits
            chosen = (select == index) & (local[own_bits:] == 0)
            with m.If(chosen):
                m.d.comb += unmapped.eq(0)
            m.d.comb += [
                layer.bus.addr.eq(local[:own_bits]),
                layer.bus.w_data.eq(bus.w_data),
                layer.bus.w_stb.eq(bus.w_stb & chosen),
                layer.bus.r_stb.eq(bus.r_stb & chosen),
            ]
            acks.append(layer.bus.ack)
            read_data.append(layer.bus.r_data)  # zero unless that layer acknowledges

        hole_ack = Signal()
        m.d.sync += hole_ack.eq((bus.w_stb | bus.r_stb) & unmapped & ~hole_ack)
        ack = hole_ack
        data = 0
        for layer_ack, layer_data in zip(acks, read_data, strict=True):
            ack = ack | layer_ack
            data = data | layer_data
        m.d.comb += [bus.ack.eq(ack), bus.r_data.eq(data)]
        return m
