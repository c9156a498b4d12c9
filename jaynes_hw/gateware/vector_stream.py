"""Adapters between element streams (one value per transfer, the folded cores and the host
link) and vector streams (a whole vector per transfer, the unrolled cores)."""

from __future__ import annotations

import itertools

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.gateware.unrolled import vector_shape


class VectorCollector(wiring.Component):
    """Gathers ``length`` values of an element stream into one vector.

    Attributes
    ----------
    x : In(stream.Signature(signed(element_bits)))
        Values, element 0 of each vector first.
    y : Out(stream.Signature(vector_shape(element_bits, length)))
        The vectors.

    A shift register of ``length`` places: a vector is offered once full, and the cycle it
    is taken the next vector's first value may enter. Latency: a vector is on ``y`` the
    cycle after its last value is taken. Throughput: a vector every ``length`` cycles.
    """

    def __init__(self, element_bits: int, length: int):
        self.element_bits, self.length = element_bits, length
        super().__init__(
            {
                "x": In(stream.Signature(signed(element_bits))),
                "y": Out(stream.Signature(vector_shape(element_bits, length))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        places = [
            Signal(signed(self.element_bits), name=f"place{index}", reset_less=True)
            for index in range(self.length)
        ]
        count = Signal(range(self.length + 1))
        full = Signal()  # count == length, a flip-flop
        taken_out = self.y.valid & self.y.ready
        m.d.comb += [
            self.y.valid.eq(full),
            self.y.payload.eq(Cat(*places)),
            self.x.ready.eq(~full | self.y.ready),
        ]
        taken_in = self.x.valid & self.x.ready
        with m.If(taken_in):  # the newest value enters at the top, the oldest reaches place 0
            m.d.sync += places[-1].eq(self.x.payload)
            m.d.sync += [before.eq(after) for before, after in itertools.pairwise(places)]
        with m.If(taken_in & taken_out):
            m.d.sync += [count.eq(1), full.eq(self.length == 1)]
        with m.Elif(taken_in):
            m.d.sync += [count.eq(count + 1), full.eq(count == self.length - 1)]
        with m.Elif(taken_out):
            m.d.sync += [count.eq(0), full.eq(0)]
        return m


class VectorSerializer(wiring.Component):
    """Sends each vector of a vector stream as ``length`` values of an element stream.

    Attributes
    ----------
    x : In(stream.Signature(vector_shape(element_bits, length)))
    y : Out(stream.Signature(signed(element_bits)))
        Element 0 of each vector first.

    Latency: a vector's first value is on ``y`` the cycle after the vector is taken.
    Throughput: a value every cycle; the next vector is taken as the last value leaves.
    """

    def __init__(self, element_bits: int, length: int):
        self.element_bits, self.length = element_bits, length
        super().__init__(
            {
                "x": In(stream.Signature(vector_shape(element_bits, length))),
                "y": Out(stream.Signature(signed(element_bits))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        places = [
            Signal(signed(self.element_bits), name=f"place{index}", reset_less=True)
            for index in range(self.length)
        ]
        left = Signal(range(self.length + 1))  # values of the current vector still to send
        last = Signal()  # left == 1
        taken_out = self.y.valid & self.y.ready
        m.d.comb += [
            self.y.valid.eq(left != 0),
            self.y.payload.eq(places[0]),
            self.x.ready.eq((left == 0) | (last & self.y.ready)),
        ]
        taken_in = self.x.valid & self.x.ready
        with m.If(taken_in):
            m.d.sync += [place.eq(self.x.payload[index]) for index, place in enumerate(places)]
            m.d.sync += [left.eq(self.length), last.eq(self.length == 1)]
        with m.Elif(taken_out):
            m.d.sync += [before.eq(after) for before, after in itertools.pairwise(places)]
            m.d.sync += [left.eq(left - 1), last.eq(left == 2)]
        return m
