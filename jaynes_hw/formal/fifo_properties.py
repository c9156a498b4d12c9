"""The output queue's promises, stated on its two streams only (a black box).

``StreamFIFOProperties`` wraps a ``StreamFIFO`` whose write side and read side's ready are
free inputs, and asserts that the queue never delivers more entries
than it accepted, holds ``r``'s valid and payload until taken, never holds more than
``depth`` entries, and delivers every entry within ``depth + 2`` cycles of ``r`` being ready
with ``w`` quiet. That the entries come out in order and unchanged is left to simulation
(every scenario compares each result bit for bit): stated as "a chosen entry comes out as
it went in", the proof ran for minutes at depth 20.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Elaboratable, Module, Mux, ResetSignal, Signal

from jaynes_hw.gateware.stream_fifo import StreamFIFO


class StreamFIFOProperties(Elaboratable):
    """A ``StreamFIFO(width, depth)`` and its assertions; ``ports`` are its streams' signals.

    ``count_limit`` bounds the entries counted (the proof's depth is enough: at most one
    entry moves per cycle).
    """

    def __init__(self, width: int, depth: int, count_limit: int):
        self.fifo = StreamFIFO(width, depth)
        self.count_limit = count_limit
        self.ports = [
            self.fifo.w.valid,
            self.fifo.w.payload,
            self.fifo.r.ready,
            self.fifo.w.ready,
            self.fifo.r.valid,
            self.fifo.r.payload,
        ]

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = self.fifo
        w, r = fifo.w, fifo.r
        m.d.comb += Assume(~ResetSignal())
        pushed = Signal(range(self.count_limit + 1))
        popped = Signal(range(self.count_limit + 1))
        push, pop = w.valid & w.ready, r.valid & r.ready
        m.d.sync += [pushed.eq(pushed + push), popped.eq(popped + pop)]
        m.d.comb += [
            Assume(pushed < self.count_limit),
            Assert(popped <= pushed, "r delivered an entry that was never written"),
            Assert(pushed - popped <= fifo.depth, "more entries held than the depth"),
        ]

        waiting = Signal()  # last cycle: r valid and not ready
        held = Signal.like(r.payload)
        m.d.sync += [waiting.eq(r.valid & ~r.ready), held.eq(r.payload)]
        m.d.comb += [
            Assert(~waiting | r.valid, "r dropped valid before it was taken"),
            Assert(~waiting | (r.payload == held), "r's payload changed while valid"),
        ]

        drain = fifo.depth + 2
        quiet_for = Signal(range(drain + 1))
        quiet = r.ready & ~w.valid
        m.d.sync += quiet_for.eq(Mux(quiet, Mux(quiet_for == drain, drain, quiet_for + 1), 0))
        m.d.comb += Assert(
            (quiet_for != drain) | (popped == pushed), "an entry was not delivered in time"
        )
        return m
