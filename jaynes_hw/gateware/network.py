"""Layers chained stream to stream, behind one configuration bus."""

from __future__ import annotations

import itertools

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import ConfiguredLayer, stream_shapes
from jaynes_hw.gateware.stream_fifo import SkidBuffer, Sliced, StreamFIFO
from jaynes_hw.gateware.unrolled import VECTOR_SLICE_BITS
from jaynes_hw.gateware.vector_stream import VectorCollector, VectorSerializer
from jaynes_hw.support.errors import UserError

# Skid buffers between two unrolled layers: one route, and at most a gate and a mux, between
# two registers, with the layers at opposite sides of the die
VECTOR_LINK_STAGES = 3


class Network(wiring.Component):
    """Layer cores in a chain: layer k's ``y`` feeds layer k+1's ``x``.

    Between two folded layers, a FIFO holds one whole vector (layer k's n_out values), so a
    layer that replays its buffered input for its later passes never holds back the layer
    before it. Two unrolled layers pass whole vectors on through ``VECTOR_LINK_STAGES`` skid
    buffers in series (``SkidBuffer``, a cycle each);
    where a folded and an unrolled layer meet, a ``VectorCollector`` or ``VectorSerializer``
    converts.

    Parameters
    ----------
    layers : list of ConfiguredLayer or ConvLayer
        Each layer's ``values_in`` must equal the previous ``values_out`` and its
        ``act_bits`` the previous ``out_bits``.
    vector_ports : bool
        ``x`` and ``y`` carry whole vectors (the first and last layers must be unrolled);
        by default one value per transfer, through adapters where a layer is unrolled.

    Attributes
    ----------
    x : In(stream.Signature(signed(first act_bits)))
        (``vector_ports``: the first layer's vector shape)
    y : Out(stream.Signature(signed(last out_bits)))
        (``vector_ports``: the last layer's vector shape)
    bus : In(ConfigBus)
        Layer k's registers at ``layer_bases[k] = k << layer_address_bits``; addresses that
        map to no layer read 0 and ignore writes.

    Throughput: the slowest stage's (``jaynes_hw.contract.manifest.vector_period``): a
    vector every ``max(cycles_per_vector)`` cycles over the layers and, on element streams,
    every ``n`` cycles for an adapter of ``n`` values, when ``y`` is always ready.
    """

    def __init__(self, layers: list[ConfiguredLayer], *, vector_ports: bool = False):
        if not layers:
            raise UserError("a network needs at least one layer")
        for before, after in itertools.pairwise(layers):
            if after.values_in != before.values_out:
                raise UserError(
                    f"a layer taking {after.values_in} values cannot follow one giving "
                    f"{before.values_out}"
                )
            if after.config.act_bits != before.config.out_bits:
                raise UserError(
                    f"a layer with act_bits {after.config.act_bits} cannot follow one with "
                    f"out_bits {before.config.out_bits}"
                )
        if vector_ports and not (layers[0].config.unrolled and layers[-1].config.unrolled):
            raise UserError("vector ports need an unrolled first and last layer")
        self.layers = list(layers)
        self.vector_ports = vector_ports
        self.layer_address_bits = max(layer.register_map.address_bits for layer in layers)
        select_bits = max(len(layers) - 1, 0).bit_length()
        self.layer_bases = [index << self.layer_address_bits for index in range(len(layers))]
        first, last = layers[0].config, layers[-1].config
        if vector_ports:
            x_shape, y_shape = stream_shapes(first)[0], stream_shapes(last)[1]
        else:
            x_shape, y_shape = signed(first.act_bits), signed(last.out_bits)
        super().__init__(
            {
                "x": In(stream.Signature(x_shape)),
                "y": Out(stream.Signature(y_shape)),
                "bus": In(ConfigBus(self.layer_address_bits + select_bits)),
            }
        )

    @property
    def n_in(self) -> int:
        """Values in one input vector (the first layer's; an image for a convolution)."""
        return self.layers[0].values_in

    @property
    def n_out(self) -> int:
        """Values in one output vector (the last layer's)."""
        return self.layers[-1].values_out

    @staticmethod
    def _vector_link(m: Module, index: int, y, x) -> None:
        """Unrolled layer ``index``'s result vectors ``y`` to the next layer's ``x`` through
        ``VECTOR_LINK_STAGES`` skid buffers in series (a cycle each), each in
        ``VECTOR_SLICE_BITS`` slices so that no enable reaches the whole vector. Between two
        registers every path has one route and at most a gate and a mux, and the stages
        split the way from one layer's queues to the next layer's inputs, which a
        floorplan puts on opposite sides of the die (two stages: 12 ns from the one to the
        other, the routed digits network's second slowest path)."""
        width = len(y.payload.as_value())
        stages = [Sliced(width, VECTOR_SLICE_BITS, SkidBuffer) for _ in range(VECTOR_LINK_STAGES)]
        for stage, buffer in enumerate(stages):
            m.submodules[f"vector_link{index}_{stage}"] = buffer
        m.d.comb += [
            stages[0].w.payload.eq(y.payload),
            stages[0].w.valid.eq(y.valid),
            y.ready.eq(stages[0].w.ready),
            x.payload.eq(stages[-1].r.payload),
            x.valid.eq(stages[-1].r.valid),
            stages[-1].r.ready.eq(x.ready),
        ]
        for before, after in itertools.pairwise(stages):
            wiring.connect(m, before.r, after.w)

    def elaborate(self, platform):
        m = Module()
        for index, layer in enumerate(self.layers):
            m.submodules[f"layer{index}"] = layer
        first, last = self.layers[0], self.layers[-1]
        if first.config.unrolled and not self.vector_ports:
            m.submodules.collect_x = collect = VectorCollector(
                first.config.act_bits, first.config.n_in
            )
            wiring.connect(m, wiring.flipped(self.x), collect.x)
            wiring.connect(m, collect.y, first.x)
        else:
            wiring.connect(m, wiring.flipped(self.x), first.x)
        for index, (before, after) in enumerate(itertools.pairwise(self.layers)):
            vectors_out, vectors_in = before.config.unrolled, after.config.unrolled
            if vectors_out and vectors_in:
                self._vector_link(m, index, before.y, after.x)
                continue
            # one vector of slack between layers (see the class docstring); 3 places at
            # least, the fewest that pass a value a cycle
            fifo = StreamFIFO(before.config.out_bits, max(before.config.n_out, 3), block_ram=True)
            m.submodules[f"fifo{index}"] = fifo
            if vectors_out:
                serialize = VectorSerializer(before.config.out_bits, before.config.n_out)
                m.submodules[f"serialize{index}"] = serialize
                wiring.connect(m, before.y, serialize.x)
                wiring.connect(m, serialize.y, fifo.w)
            else:
                wiring.connect(m, before.y, fifo.w)
            if vectors_in:
                collect = VectorCollector(after.config.act_bits, after.config.n_in)
                m.submodules[f"collect{index}"] = collect
                wiring.connect(m, fifo.r, collect.x)
                wiring.connect(m, collect.y, after.x)
            else:
                wiring.connect(m, fifo.r, after.x)
        if last.config.unrolled and not self.vector_ports:
            m.submodules.serialize_y = serialize = VectorSerializer(
                last.config.out_bits, last.config.n_out
            )
            wiring.connect(m, last.y, serialize.x)
            wiring.connect(m, serialize.y, wiring.flipped(self.y))
        else:
            wiring.connect(m, last.y, wiring.flipped(self.y))

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
