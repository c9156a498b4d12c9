"""Layer cores as the outside world sees them: two streams and a configuration bus.

``LayerCore`` (lognormal codes + codebook registers) and ``Int8LayerCore`` (the conventional
int8 baseline) are the same ``LayerDatapath`` behind the register file that
``jaynes_hw.contract.registers.RegisterMap`` describes.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.contract.layer_config import BUS_DATA_BITS, LayerConfig
from jaynes_hw.contract.memory_image import pack_bias_rows, pack_code_rows
from jaynes_hw.contract.registers import (
    EXPONENT_FIELD,
    REG_CONTROL,
    REG_SHIFT,
    STATUS_BUSY,
    STATUS_COMMIT_PENDING,
    LayerDriver,
    RegisterMap,
)
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.datapath import LayerDatapath
from jaynes_hw.support.errors import UserError


class ConfiguredLayer(wiring.Component):
    """A ``LayerDatapath`` with its register file on a ``ConfigBus``.

    Attributes
    ----------
    x : In(stream.Signature(signed(act_bits)))
    y : Out(stream.Signature(signed(out_bits)))
    bus : In(ConfigBus(register_map.address_bits))
    register_map : RegisterMap
    initial_shift : int
    initial_bias : ndarray of int64 (n_out,)

    Latency and throughput are the datapath's (``LayerDatapath``). A bus access is
    acknowledged two cycles after its strobe is taken; a read of the code memory stalls the
    issue stage for a cycle, one of the bias memory the finish stage.
    """

    def __init__(
        self,
        config: LayerConfig,
        stored: np.ndarray,
        codebook: Codebook | None,
        shift: int,
        bias: np.ndarray | None,
    ):
        self.config = config
        self.register_map = RegisterMap.of(config)
        driver = LayerDriver(self.register_map)
        self.stored_words = driver.stored_words(stored)  # validates shape and range
        if codebook is not None:
            driver.codebook_writes(codebook)  # validates size and format
        driver.shift_writes(shift)
        if bias is None:
            bias = np.zeros(config.n_out, dtype=np.int64)
        elif not config.bias_bits:
            raise UserError("bias values given for a core without bias (bias_bits = 0)")
        else:
            driver.bias_writes(bias)
        self.codebook = codebook
        self.initial_shift = int(shift)
        self.initial_bias = np.asarray(bias, dtype=np.int64)
        super().__init__(
            {
                "x": In(stream.Signature(signed(config.act_bits))),
                "y": Out(stream.Signature(signed(config.out_bits))),
                "bus": In(ConfigBus(self.register_map.address_bits)),
            }
        )

    def elaborate(self, platform):
        config, register_map, bus = self.config, self.register_map, self.bus
        m = Module()
        if self.codebook is not None:
            codebook_init = list(
                zip(self.codebook.mantissas.tolist(), self.codebook.exponents.tolist(), strict=True)
            )
        else:
            codebook_init = []
        m.submodules.datapath = datapath = LayerDatapath(
            config,
            code_init=pack_code_rows(config, self.stored_words),
            bias_init=pack_bias_rows(config, self.initial_bias) if config.bias_bits else [],
            codebook_init=codebook_init,
            shift_init=self.initial_shift,
        )
        wiring.connect(m, wiring.flipped(self.x), datapath.x)
        wiring.connect(m, datapath.y, wiring.flipped(self.y))

        # The request is registered before anything decodes it, so the address decoders and
        # the register and memory writes start from flip-flops. One access at a time: a
        # strobe is taken while no request is held and no ack is out; the ack comes the
        # cycle after the request register (two cycles after the strobe was taken), and the
        # strobe still high in the ack cycle is not taken again.
        request_addr = Signal(len(bus.addr))
        request_data = Signal(BUS_DATA_BITS)
        request_write, request_valid, ack = Signal(), Signal(), Signal()
        take = (bus.w_stb | bus.r_stb) & ~request_valid & ~ack
        m.d.sync += [request_valid.eq(take), ack.eq(request_valid)]
        with m.If(take):
            m.d.sync += [
                request_addr.eq(bus.addr),
                request_data.eq(bus.w_data),
                request_write.eq(bus.w_stb),
            ]
        write = request_valid & request_write
        read = request_valid & ~request_write
        m.d.comb += bus.ack.eq(ack)

        def region(name):
            """(hit, offset) of the request's address in a region of the map."""
            area = register_map.region(name)
            bits = area.size.bit_length() - 1
            return request_addr[bits:] == area.base >> bits, request_addr[:bits]

        # Registered read data, or a lane of a memory row read this cycle.
        read_word = Signal(BUS_DATA_BITS)
        read_source = Signal(range(3))  # 0 register, 1 code memory, 2 bias memory
        read_lane = Signal(range(register_map.lanes_p2))
        m.d.comb += bus.r_data.eq(0)
        with m.If(ack):
            with m.Switch(read_source):
                with m.Case(0):
                    m.d.comb += bus.r_data.eq(read_word)
                with m.Case(1):
                    code = datapath.code_mem.r_data.word_select(read_lane, config.code_bits)
                    m.d.comb += bus.r_data.eq(code)
                if config.bias_bits:
                    with m.Case(2):
                        value = datapath.bias_mem.r_data
                        m.d.comb += bus.r_data.eq(value.as_signed())  # sign-extended
        with m.If(read):  # unmapped addresses read 0
            m.d.sync += [read_source.eq(0), read_word.eq(0)]

        # --- registers ----------------------------------------------------------------------
        hit, offset = region("regs")
        staged_shift = Signal(config.shift_bits, init=self.initial_shift)
        m.d.comb += datapath.shift.eq(staged_shift)
        # Strobes and enables are plain expressions, not comb assignments under m.If: Icarus
        # never evaluates a comb process whose inputs do not change after time 0 (the Verilog
        # backend's dummy trigger is a declaration initializer, which raises no event), and
        # such an enable then stays X, latches X into the datapath's state and the
        # simulation hangs.
        m.d.comb += datapath.commit.eq(write & hit & (offset == REG_CONTROL) & request_data[0])
        with m.If(write & hit & (offset == REG_SHIFT)):
            m.d.sync += staged_shift.eq(request_data)
        status = Mux(datapath.commit_pending, STATUS_COMMIT_PENDING, 0) | Mux(
            datapath.busy, STATUS_BUSY, 0
        )
        with m.If(read & hit):
            with m.Switch(offset):
                for address, value in register_map.constant_registers().items():
                    with m.Case(address):
                        m.d.sync += read_word.eq(value)
                with m.Case(REG_CONTROL):
                    m.d.sync += read_word.eq(status)
                with m.Case(REG_SHIFT):
                    m.d.sync += read_word.eq(staged_shift)

        # --- staged codebook ------------------------------------------------------------------
        if config.kind == "lognormal":
            hit, offset = region("codebook")
            for k, (mantissa, exponent) in enumerate(codebook_init):
                staged_m = Signal(config.mantissa_bits, init=mantissa, name=f"staged{k}_m")
                m.d.comb += datapath.mantissas[k].eq(staged_m)
                word = staged_m
                if config.exponent_bits:
                    staged_e = Signal(config.exponent_bits, init=exponent, name=f"staged{k}_e")
                    m.d.comb += datapath.exponents[k].eq(staged_e)
                    word = staged_m | staged_e << EXPONENT_FIELD
                with m.If(hit & (offset == k)):
                    with m.If(write):
                        m.d.sync += staged_m.eq(request_data)
                        if config.exponent_bits:
                            m.d.sync += staged_e.eq(request_data[EXPONENT_FIELD:])
                    with m.If(read):
                        m.d.sync += read_word.eq(word)

        # --- memories ---------------------------------------------------------------------------
        # code word row * lanes_p2 + lane is one lane field of a code memory row
        lane_bits = register_map.lanes_p2.bit_length() - 1
        hit, offset = region("codes")
        row, lane = offset[lane_bits:], offset[:lane_bits]
        codes_hit = hit & (lane < config.lanes) & (row < config.code_rows)
        access = datapath.code_mem
        m.d.comb += [
            access.addr.eq(row),
            access.w_data.eq(request_data[: config.code_bits].replicate(config.lanes)),
        ]
        m.d.comb += [
            access.w_en.eq(Mux(write & codes_hit, Const(1, config.lanes) << lane, 0)),
            access.r_en.eq(read & codes_hit),
        ]
        with m.If(read & codes_hit):
            m.d.sync += [read_source.eq(1), read_lane.eq(lane)]
        if config.bias_bits:  # bias word o is the bias of output o
            hit, offset = region("bias")
            bias_hit = hit & (offset < config.n_out)
            access = datapath.bias_mem
            m.d.comb += [access.addr.eq(offset), access.w_data.eq(request_data)]
            m.d.comb += [access.w_en.eq(write & bias_hit), access.r_en.eq(read & bias_hit)]
            with m.If(read & bias_hit):
                m.d.sync += read_source.eq(2)
        return m


class LayerCore(ConfiguredLayer):
    """A lognormally connected layer: stored codes, tunable codebook registers.

    Parameters
    ----------
    config : LayerConfig
        ``kind`` must be ``lognormal``.
    codes : array (n_out, n_in)
        Stored codes (sign bit on top of the magnitude bin), the code memory's reset value.
    codebook : Codebook
        Reset value of the codebook registers; its size and register format must match.
    shift : int
        Reset value of the output shift S.
    bias : array (n_out,), optional
        Reset value of the bias memory (needs ``bias_bits``).

    Attributes
    ----------
    x : In(stream.Signature(signed(act_bits)))
    y : Out(stream.Signature(signed(out_bits)))
    bus : In(ConfigBus)
        The configuration port (``jaynes_hw.contract.registers``).

    Latency: a pass's first result 9 cycles after its last input beat. Throughput: ``lanes``
    MAC per cycle while ``x`` never stalls and ``n_in >= lanes + 5``; one vector every
    ``passes * n_in`` cycles.
    """

    def __init__(
        self,
        config: LayerConfig,
        codes: np.ndarray,
        codebook: Codebook,
        *,
        shift: int = 0,
        bias: np.ndarray | None = None,
    ):
        if config.kind != "lognormal":
            raise UserError(f"LayerCore needs a lognormal config, not {config.kind!r}")
        super().__init__(config, codes, codebook, shift, bias)


class Int8LayerCore(ConfiguredLayer):
    """The conventional baseline: int8 weights times activations, same streams and port.

    The same contract with a fixed uniform codebook: every connection stores its weight as
    8-bit two's complement (|w| <= 128) and multiplies it. No codebook registers.

    Parameters
    ----------
    config : LayerConfig
        ``kind`` must be ``int8``.
    weights : int array (n_out, n_in)
        Weights in [-128, 127], the weight memory's reset value.
    shift, bias :
        As for ``LayerCore``.

    Latency and throughput as ``LayerCore``.
    """

    def __init__(
        self,
        config: LayerConfig,
        weights: np.ndarray,
        *,
        shift: int = 0,
        bias: np.ndarray | None = None,
    ):
        if config.kind != "int8":
            raise UserError(f"Int8LayerCore needs an int8 config, not {config.kind!r}")
        super().__init__(config, weights, None, shift, bias)
