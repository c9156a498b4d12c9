"""The stream monitor: results from the design's ``y`` stream, under random back-pressure."""

from __future__ import annotations

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from jaynes_hw.sim.budget import BudgetExceeded


class StreamMonitor:
    """Samples ``y__valid`` / ``y__payload`` while it drives ``y__ready``.

    Parameters
    ----------
    dut :
        The cocotb handle of the design.
    rng : numpy Generator
        Decides the cycles in which ``ready`` is dropped.
    cycle : callable
        Returns the current clock cycle (deadlines are in these cycles).
    """

    def __init__(self, dut, rng: np.random.Generator, cycle):
        self.dut, self.rng, self.cycle = dut, rng, cycle
        self.held = False  # set by a scenario: ready stays low until it is cleared

    def stop(self) -> None:
        self.dut.y__ready.value = 0

    async def receive(
        self,
        count: int,
        per_vector: int,
        start: int,
        deadline,
        backpressure: float = 0.0,
        burst: int = 1,
        delivered: list | None = None,
    ) -> list[int]:
        """Collect ``count`` signed results, ``per_vector`` to a vector. In a cycle, with
        probability ``backpressure``, ready drops for 1 to ``burst`` cycles (uniform).
        ``delivered`` (a list) gets the cycle of each result taken.

        ``deadline(v)`` is the cycle by which vector v's last result must have come; past it
        ``BudgetExceeded`` says how many of that vector's results came, and when, in cycles
        since ``start`` (when the stream's first input was offered).
        """
        dut, received, stalled = self.dut, [], 0
        while len(received) < count:
            vector = len(received) // per_vector
            if self.cycle() > deadline(vector):
                raise BudgetExceeded(
                    f"y: {len(received) % per_vector} of {per_vector} outputs of vector "
                    f"{vector} after {self.cycle() - start:,} cycles, expected by "
                    f"{deadline(vector) - start:,}"
                )
            if stalled == 0 and self.rng.random() < backpressure:
                stalled = int(self.rng.integers(1, burst + 1))
            dut.y__ready.value = int(stalled == 0 and not self.held)
            stalled = max(stalled - 1, 0)
            await ReadOnly()
            if dut.y__valid.value == 1 and dut.y__ready.value == 1:
                received.append(dut.y__payload.value.to_signed())
                if delivered is not None:
                    delivered.append(self.cycle())
            await RisingEdge(dut.clk)
        dut.y__ready.value = 0
        return received

    async def assert_silent(self, cycles: int) -> None:
        """Fail if ``y__valid`` rises within ``cycles`` (nothing more may come out)."""
        for _ in range(cycles):
            await ReadOnly()
            assert self.dut.y__valid.value == 0, "a result after the last expected one"
            await RisingEdge(self.dut.clk)
