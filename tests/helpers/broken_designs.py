"""Deliberately broken layer datapaths, for the tests that show a proof catches each fault."""

from __future__ import annotations

from amaranth.hdl import Const, Mux

from jaynes_hw.gateware.datapath import LayerDatapath


class CommitMidVector(LayerDatapath):
    """Applies a commit the cycle its strobe arrives, not at the next vector boundary: the
    vectors in flight finish with the new codebook and shift."""

    def _active_registers(self, m, apply_commit):
        return super()._active_registers(m, self.commit)


class ShifterOnePlaceTooFar(LayerDatapath):
    """A powers-of-two term shifted one place further than its exponent says."""

    def _pow2_term(self, x, mantissa, exponent):
        return Mux(mantissa, x << (exponent + 1), 0)


class NoOutputCredit(LayerDatapath):
    """Drains the bank whether or not the output queue has room (the credit ignored)."""

    def _output_queue(self, m, drain, push, result):
        super()._output_queue(m, drain, push, result)
        return Const(1)
