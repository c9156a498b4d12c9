"""The configuration-port master: plays ``LayerDriver`` writes and reads on the design's bus."""

from __future__ import annotations

from cocotb.triggers import ReadOnly, RisingEdge

from jaynes_hw.contract.design import DesignLayer
from jaynes_hw.contract.layer_config import BUS_DATA_BITS
from jaynes_hw.contract.registers import REG_CONTROL, LayerDriver
from jaynes_hw.sim.budget import BUS_ACK_BUDGET_CYCLES, BudgetExceeded

WORD_MASK = (1 << BUS_DATA_BITS) - 1


class ConfigPortMaster:
    """Word reads and writes on ``bus__*``: a strobe held until ``ack``.

    An access not acknowledged within ``BUS_ACK_BUDGET_CYCLES``, or a commit still pending
    ``commit_patience`` cycles after ``wait_commit`` began, raises ``BudgetExceeded``;
    ``cycle()`` returns the current clock cycle.
    """

    def __init__(self, dut, cycle, commit_patience: int):
        self.dut, self.cycle, self.commit_patience = dut, cycle, commit_patience

    def idle(self) -> None:
        self.dut.bus__w_stb.value = 0
        self.dut.bus__r_stb.value = 0

    async def _access(self, address: int, data: int | None) -> int:
        dut = self.dut
        dut.bus__addr.value = address
        if data is None:
            dut.bus__r_stb.value = 1
        else:
            dut.bus__w_data.value = data & WORD_MASK
            dut.bus__w_stb.value = 1
        for _ in range(BUS_ACK_BUDGET_CYCLES):
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.bus__ack.value == 1:
                word = int(dut.bus__r_data.value)
                break
        else:
            access = f"read of {address:#x}" if data is None else f"write to {address:#x}"
            raise BudgetExceeded(
                f"bus: no ack for the {access} within {BUS_ACK_BUDGET_CYCLES} cycles"
            )
        await RisingEdge(dut.clk)
        self.idle()
        if data is not None and word:  # a target's r_data is 0 but for a read's ack
            raise AssertionError(f"bus: the write to {address:#x} was acknowledged with "
                                 f"r_data {word:#x}, not 0")  # fmt: skip
        return word

    async def write(self, address: int, data: int) -> None:
        await self._access(address, data)

    async def read(self, address: int) -> int:
        return await self._access(address, None)

    async def play(self, writes) -> None:
        """Perform ``(address, data)`` writes in order (a ``LayerDriver`` list)."""
        for address, data in writes:
            await self.write(address, data)

    async def wait_commit(self, layer: DesignLayer) -> None:
        """Poll the layer's STATUS until its staged codebook and shift are applied."""
        address, start = layer.base_address + REG_CONTROL, self.cycle()
        while LayerDriver.decode_status(await self.read(address))["commit_pending"]:
            if self.cycle() - start > self.commit_patience:
                raise BudgetExceeded(
                    f"layer at {layer.base_address:#x}: commit still pending after "
                    f"{self.cycle() - start:,} cycles, expected by {self.commit_patience:,}"
                )
