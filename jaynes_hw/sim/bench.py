"""What every cocotb scenario starts from: the design under test with its clock, reset,
cycle counter, stream driver and monitor, configuration-port master and reference model.

The runner (``jaynes_hw.sim.runner``) or ``sim/Makefile`` passes the scenario's inputs in
environment variables:

- ``JAYNES_HW_SIM_MANIFEST``: the manifest of the design under test;
- ``JAYNES_HW_SIM_VECTORS``: vectors per scenario (default 8); ``JAYNES_HW_SIM_SEED``: the
  seed (default 1);
- ``JAYNES_HW_SIM_REPORT``: a JSON-lines file each scenario appends its figures to (none:
  figures are only logged).
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from jaynes_hw.contract.design import Design
from jaynes_hw.sim.budget import CycleBudget
from jaynes_hw.sim.driver import StreamDriver
from jaynes_hw.sim.monitor import StreamMonitor
from jaynes_hw.sim.port import ConfigPortMaster

CLOCK_NS = 10


class Bench:
    """The design under test and the pieces that drive and watch it.

    Attributes
    ----------
    design : Design
        The reference: what the design must output (scenarios copy and change it as they
        write registers).
    driver, monitor, port : StreamDriver, StreamMonitor, ConfigPortMaster
    rng : numpy Generator
        Seeded from ``JAYNES_HW_SIM_SEED``; every random choice of the scenario comes from it.
    vectors : int
    cycle : int
        Rising clock edges since ``start``.
    budget : CycleBudget
        Bounds every wait (``jaynes_hw.sim.budget``): a design that stops answering fails
        the scenario with one line instead of hanging it.
    """

    # the worst stream a scenario runs: the commit waits and input stalls are sized for it
    WORST_IDLE = WORST_BACKPRESSURE = 0.5

    def __init__(self, dut):
        self.dut = dut
        self.design = Design.from_manifest(os.environ["JAYNES_HW_SIM_MANIFEST"])
        self.vectors = int(os.environ.get("JAYNES_HW_SIM_VECTORS", "8"))
        self.rng = np.random.default_rng(int(os.environ.get("JAYNES_HW_SIM_SEED", "1")))
        self.cycle = 0
        self.budget = CycleBudget.of(self.design)
        # a whole vector's budget under the worst stream: longer than any honest stall
        self.patience = self.budget.deadline(1, self.WORST_IDLE, self.WORST_BACKPRESSURE)
        self.driver = StreamDriver(dut, self.design.act_bits, self.rng, lambda: self.cycle)
        self.monitor = StreamMonitor(dut, self.rng, lambda: self.cycle)
        self.port = ConfigPortMaster(dut, lambda: self.cycle, self.patience)

    async def start(self) -> None:
        """Start the clock and the cycle counter, idle every input, reset, and load what
        no bitstream loads (``Design.start_up_writes``: codes kept in SPRAM)."""
        Clock(self.dut.clk, CLOCK_NS, unit="ns").start()
        cocotb.start_soon(self._count())
        self.driver.idle()
        self.monitor.stop()
        self.port.idle()
        await self.reset()
        await self.port.play(self.design.start_up_writes())

    async def _count(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def reset(self, cycles: int = 2) -> None:
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def stream(
        self,
        x: np.ndarray,
        idle=0.0,
        backpressure=0.0,
        accepted=None,
        burst: int = 1,
        delivered=None,
    ) -> np.ndarray:
        """Send vectors (vectors, n_in) and collect their results: (vectors, n_out).
        ``accepted`` and ``delivered`` (lists) get the cycle of each input taken and each
        result delivered.

        ``idle``: probability of an idle cycle before each input; ``backpressure``: of y's
        ready dropping in a cycle, for 1 to ``burst`` cycles. Each vector's results must come
        within ``budget.deadline`` of the first input offered, each input be taken within
        ``patience`` cycles, or ``BudgetExceeded`` fails the scenario."""
        n_out, start = self.design.n_out, self.cycle
        mean_stall = backpressure * (burst + 1) / 2  # ready's low cycles per cycle it is high
        low_share = mean_stall / (1 - backpressure + mean_stall)

        def deadline(vector: int) -> int:
            return start + self.budget.deadline(vector, idle, low_share)

        receiver = cocotb.start_soon(
            self.monitor.receive(
                x.shape[0] * n_out, n_out, start, deadline, backpressure, burst, delivered
            )
        )
        await self.driver.send(x.reshape(-1), self.patience, idle, accepted)
        results = await receiver
        return np.array(results, dtype=np.int64).reshape(x.shape[0], self.design.n_out)

    async def clocks(self, count: int) -> None:
        for _ in range(count):
            await RisingEdge(self.dut.clk)

    def report(self, **figures) -> None:
        """Append the scenario's figures to ``JAYNES_HW_SIM_REPORT`` and log them."""
        self.dut._log.info("figures: %s", json.dumps(figures))
        path = os.environ.get("JAYNES_HW_SIM_REPORT")
        if path:
            with open(path, "a") as stream:
                stream.write(json.dumps(figures) + "\n")
