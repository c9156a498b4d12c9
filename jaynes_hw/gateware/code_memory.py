"""Code rows in single-port RAM: the iCE40 UltraPlus SPRAM, for layers whose codes outgrow
block RAM.

An SB_SPRAM256KA is 16384 words of 16 bits with a write mask per 4-bit nibble, one access
(a read or a write) per cycle, and no initial contents: the bitstream cannot load it, so a
layer kept there gets its codes through the configuration port before its first vector
(``LayerDriver.code_writes``; ``jaynes-hw run`` does it at start-up). Blocks sit side by side
for a wide row (``code_blocks_wide``) and in banks for a deep one; the UP5K has four.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.layer_config import SPRAM_DEPTH, SPRAM_WIDTH, LayerConfig

NIBBLE = 4


def has_spram(platform) -> bool:
    """Whether ``platform`` is an iCE40 UltraPlus (the devices with SB_SPRAM256KA)."""
    return getattr(platform, "device", "").startswith("iCE40UP")


@dataclass(frozen=True)
class PrimitivesOf:
    """What the generator elaborates for when a layer keeps its codes in SPRAM: the emitted
    Verilog then instantiates SB_SPRAM256KA (the hardware it describes), simulated beside
    a behavioural model (``jaynes_hw/sim/sb_spram256ka.v``) and synthesized for the iCE40
    UltraPlus only."""

    device: str = "iCE40UP5K"


class SinglePortCodes(wiring.Component):
    """A layer's code rows, one port: a write or a read each cycle.

    Attributes
    ----------
    addr : In(range(code_rows))
        The row written or read.
    w_en : In(lanes)
        One bit per lane: write ``w_data``'s matching codes at the clock edge. No read
        happens in a cycle that writes.
    w_data : In(lanes * code_bits)
    r_data : Out(lanes * code_bits)
        The row ``addr`` named at the last clock edge that did not write (latency 1; it
        holds while nothing is read).

    On an iCE40 UltraPlus (and in the emitted Verilog, ``PrimitivesOf``) it is
    ``config.spram_blocks`` SB_SPRAM256KA instances; in the Amaranth simulator an Amaranth
    memory that behaves the same and starts from zeros, as the Verilog model does.
    """

    def __init__(self, config: LayerConfig):
        self.config = config
        row_bits = config.lanes * config.code_bits
        super().__init__(
            {
                "addr": In(range(config.code_rows) if config.code_rows > 1 else 1),
                "w_en": In(config.lanes),
                "w_data": In(row_bits),
                "r_data": Out(row_bits),
            }
        )

    def elaborate(self, platform):
        if has_spram(platform):
            return self._spram_blocks()
        config = self.config
        m = Module()
        m.submodules.rows = rows = Memory(
            shape=unsigned(config.lanes * config.code_bits), depth=config.code_rows, init=[]
        )
        write = rows.write_port(granularity=config.code_bits)
        read = rows.read_port()
        m.d.comb += [
            write.addr.eq(self.addr),
            write.data.eq(self.w_data),
            write.en.eq(self.w_en),
            read.addr.eq(self.addr),
            read.en.eq(~self.w_en.any()),
            self.r_data.eq(read.data),
        ]
        return m

    def _spram_blocks(self):
        config = self.config
        m = Module()
        wide, banks = config.spram_blocks_wide, config.spram_banks
        padded_bits = wide * SPRAM_WIDTH
        nibbles_per_code = config.code_bits // NIBBLE
        # the lanes' write enables, one per nibble, and the data, padded to whole blocks
        nibble_enables = Signal(padded_bits // NIBBLE)
        m.d.comb += nibble_enables.eq(
            Cat(*(self.w_en[lane].replicate(nibbles_per_code) for lane in range(config.lanes)))
        )
        data_in = Signal(padded_bits)
        m.d.comb += data_in.eq(self.w_data)
        writing = self.w_en.any()
        low_bits = (SPRAM_DEPTH - 1).bit_length()
        bank_of_access = self.addr[low_bits:] if banks > 1 else 0
        bank_read = Signal(range(banks) if banks > 1 else 1)  # the bank the last read named
        with m.If(~writing):
            m.d.sync += bank_read.eq(bank_of_access)
        bank_outputs = []
        for bank in range(banks):
            selected = bank_of_access == bank
            outputs = []
            for block in range(wide):
                data_out = Signal(SPRAM_WIDTH, name=f"spram_b{bank}_w{block}_out")
                mask = nibble_enables[block * 4 : block * 4 + 4]
                m.submodules[f"spram_b{bank}_w{block}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=self.addr[:low_bits],
                    i_DATAIN=data_in.word_select(block, SPRAM_WIDTH),
                    i_MASKWREN=mask,
                    i_WREN=mask.any(),  # the block holds a lane being written
                    i_CHIPSELECT=selected,
                    i_CLOCK=ClockSignal("sync"),
                    i_STANDBY=0,
                    i_SLEEP=0,
                    i_POWEROFF=1,
                    o_DATAOUT=data_out,
                )
                outputs.append(data_out)
            bank_outputs.append(Cat(*outputs))
        if banks == 1:
            m.d.comb += self.r_data.eq(bank_outputs[0])
        else:
            with m.Switch(bank_read):
                for bank, row in enumerate(bank_outputs):
                    with m.Case(bank):
                        m.d.comb += self.r_data.eq(row)
        return m
