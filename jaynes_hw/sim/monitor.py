"""The stream monitor: results from the design's ``y`` stream, under random back-pressure."""

from __future__ import annotations

import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge


class StreamMonitor:
    """Samples ``y__valid`` / ``y__payload`` while it drives ``y__ready``.

    Parameters
    ----------
    dut :
        The cocotb handle of the design.
    rng : numpy Generator
        Decides the cycles in which ``ready`` is dropped.
    """

    def __init__(self, dut, rng: np.random.Generator):
        self.dut, self.rng = dut, rng

    def stop(self) -> None:
        self.dut.y__ready.value = 0

    async def receive(self, count: int, backpressure: float = 0.0) -> list[int]:
        """Collect ``count`` signed results, holding ready low in a cycle with probability
        ``backpressure``."""
        dut, received = self.dut, []
        while len(received) < count:
            dut.y__ready.value = int(self.rng.random() >= backpressure)
            await ReadOnly()
            if dut.y__valid.value == 1 and dut.y__ready.value == 1:
                received.append(dut.y__payload.value.to_signed())
            await RisingEdge(dut.clk)
        dut.y__ready.value = 0
        return received

    async def assert_silent(self, cycles: int) -> None:
        """Fail if ``y__valid`` rises within ``cycles`` (nothing more may come out)."""
        for _ in range(cycles):
            await ReadOnly()
            assert self.dut.y__valid.value == 0, "a result after the last expected one"
            await RisingEdge(self.dut.clk)
