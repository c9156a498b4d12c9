"""The stream driver: input values into the design's ``x`` stream, with random idle cycles."""

from __future__ import annotations

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from jaynes_hw.sim.budget import BudgetExceeded


class StreamDriver:
    """Drives ``x__valid`` / ``x__payload`` and waits for ``x__ready``, one value a transfer.

    Parameters
    ----------
    dut :
        The cocotb handle of the design (a generated network's top).
    bits : int
        Payload width; values are sent in two's complement.
    rng : numpy Generator
        Decides the idle cycles.
    cycle : callable
        Returns the current clock cycle (recorded for accepted transfers).
    """

    def __init__(self, dut, bits: int, rng: np.random.Generator, cycle):
        self.dut, self.rng, self.cycle = dut, rng, cycle
        self.mask = (1 << bits) - 1

    def idle(self) -> None:
        self.dut.x__valid.value = 0

    async def send(
        self, values, patience: int, idle: float = 0.0, accepted: list | None = None
    ) -> None:
        """Drive ``values`` into x; before each, idle a cycle with probability ``idle``
        (repeatedly). ``accepted`` collects the cycle of every transfer. A value that waits
        more than ``patience`` cycles for ``ready`` raises ``BudgetExceeded``."""
        dut = self.dut
        for index, value in enumerate(values):
            while self.rng.random() < idle:
                dut.x__valid.value = 0
                await RisingEdge(dut.clk)
            dut.x__valid.value = 1
            dut.x__payload.value = int(value) & self.mask
            offered = self.cycle()
            while True:
                await ReadOnly()
                if dut.x__ready.value == 1:
                    break
                if self.cycle() - offered >= patience:
                    raise BudgetExceeded(
                        f"x: value {index} of {len(values)} not taken after {patience:,} cycles"
                    )
                await RisingEdge(dut.clk)
            if accepted is not None:
                accepted.append(self.cycle())
            await RisingEdge(dut.clk)  # the transfer happens on this edge
        dut.x__valid.value = 0
