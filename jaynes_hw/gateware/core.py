"""Layer cores as the outside world sees them: two streams and a configuration bus.

``LayerCore`` (lognormal codes + codebook registers) and ``Int8LayerCore`` (the conventional
int8 baseline) are the same ``LayerDatapath`` behind the register file that
``jaynes_hw.contract.registers.RegisterMap`` describes.
"""

from __future__ import annotations

import itertools

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.contract.layer_config import BUS_DATA_BITS, LayerConfig
from jaynes_hw.contract.memory_image import pack_bias_rows, pack_code_rows, pack_scale_rows
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
from jaynes_hw.gateware.datapath import LayerDatapath, balanced_or
from jaynes_hw.gateware.unrolled import UnrolledDatapath, vector_shape
from jaynes_hw.support.errors import UserError


def stream_shapes(config: LayerConfig):
    """(x, y) payload shapes of a core: one activation per transfer (folded), or a whole
    vector (unrolled, ``vector_shape``)."""
    if config.unrolled:
        return vector_shape(config.act_bits, config.n_in), vector_shape(
            config.out_bits, config.n_out
        )
    return signed(config.act_bits), signed(config.out_bits)


class ConfiguredLayer(wiring.Component):
    """A ``LayerDatapath`` (folded) or an ``UnrolledDatapath`` with its register file on a
    ``ConfigBus``.

    Attributes
    ----------
    x : In(stream.Signature(stream_shapes(config)[0]))
        One activation per transfer; an unrolled core's whole input vector.
    y : Out(stream.Signature(stream_shapes(config)[1]))
    bus : In(ConfigBus(register_map.address_bits))
    register_map : RegisterMap
    initial_shift : int
    initial_bias, initial_scales : ndarray of int64 (n_out,)

    Latency and throughput are the datapath's (``LayerDatapath``, ``UnrolledDatapath``).
    An unrolled core's codes are wiring: its code region reads them back and ignores
    writes. A bus access is
    acknowledged five cycles after its strobe is taken; a read of the code memory stalls
    the issue stage for a cycle, one of the bias or scale memory the finish stage.
    """

    def __init__(
        self,
        config: LayerConfig,
        stored: np.ndarray,
        codebook: Codebook | None,
        shift: int,
        bias: np.ndarray | None,
        vectors_per_commit: int = 1,
        scales: np.ndarray | None = None,
    ):
        self.config = config
        self.vectors_per_commit = vectors_per_commit
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
        if scales is None:
            scales = np.ones(config.n_out, dtype=np.int64)
        elif not config.scale_bits:
            raise UserError("channel scales given for a core without them (scale_bits = 0)")
        else:
            driver.scale_writes(scales)
        self.initial_scales = np.asarray(scales, dtype=np.int64)
        self.codebook = codebook
        self.initial_shift = int(shift)
        self.initial_bias = np.asarray(bias, dtype=np.int64)
        x_shape, y_shape = stream_shapes(config)
        super().__init__(
            {
                "x": In(stream.Signature(x_shape)),
                "y": Out(stream.Signature(y_shape)),
                "bus": In(ConfigBus(self.register_map.address_bits)),
            }
        )

    @property
    def values_in(self) -> int:
        """Values per input vector on ``x`` (``n_in``; a ``ConvLayer`` takes an image)."""
        return self.config.n_in

    @property
    def values_out(self) -> int:
        return self.config.n_out

    def elaborate(self, platform):
        config, register_map, bus = self.config, self.register_map, self.bus
        m = Module()
        if self.codebook is not None:
            codebook_init = list(
                zip(self.codebook.mantissas.tolist(), self.codebook.exponents.tolist(), strict=True)
            )
        else:
            codebook_init = []
        bias_init = pack_bias_rows(config, self.initial_bias) if config.bias_bits else []
        scale_init = pack_scale_rows(config, self.initial_scales) if config.scale_bits else []
        if config.unrolled:
            if self.vectors_per_commit != 1:
                raise UserError("an unrolled core commits at every vector")
            datapath = UnrolledDatapath(
                config, self.stored_words, bias_init, codebook_init, self.initial_shift
            )
        else:
            datapath = LayerDatapath(
                config,
                code_init=pack_code_rows(config, self.stored_words),
                bias_init=bias_init,
                codebook_init=codebook_init,
                shift_init=self.initial_shift,
                vectors_per_commit=self.vectors_per_commit,
                scale_init=scale_init,
            )
        m.submodules.datapath = datapath
        wiring.connect(m, wiring.flipped(self.x), datapath.x)
        wiring.connect(m, datapath.y, wiring.flipped(self.y))

        # Registered steps, so no address decoder, comparison or read select sits in front of
        # a write enable, a memory port, the datapath's issue logic or the read data:
        #   take      the strobe is taken (no request in progress): address and data into
        #             the request registers;
        #   decode    the request's region, offset and range checks into flags;
        #   access    registers and memories written, a memory read issued, a register read;
        #   fetched   a bias or scale read's word into the read register (a bias
        #             sign-extended); a code
        #             read's row arrives (registered in the datapath);
        #   collect   that row's field (its lane) into the read register;
        #   ack       the cycle after (five cycles after the strobe was taken), with the read
        #             register on r_data; the strobe still high then is not taken again.
        request_addr = Signal(len(bus.addr))
        request_data = Signal(BUS_DATA_BITS)
        request_write = Signal()
        steps = [Signal(name=name) for name in ("request_valid", "decoded", "fetched", "collected")]
        request_valid, decoded = steps[:2]
        ack = Signal()
        take = (bus.w_stb | bus.r_stb) & ~(Cat(*steps).any() | ack)
        m.d.sync += [request_valid.eq(take), ack.eq(steps[-1])]
        m.d.sync += [after.eq(before) for before, after in itertools.pairwise(steps)]
        with m.If(take):
            m.d.sync += [
                request_addr.eq(bus.addr),
                request_data.eq(bus.w_data),
                request_write.eq(bus.w_stb),
            ]
        m.d.comb += bus.ack.eq(ack)

        def region(name):
            """(hit, offset) of the request's address in a region of the map."""
            area = register_map.region(name)
            bits = area.size.bit_length() - 1
            return request_addr[bits:] == area.base >> bits, request_addr[:bits]

        def read_flag(name, condition):
            """``condition`` on a read request, registered in the decode step: one flip-flop
            in the access step."""
            read = Signal(name=f"{name}_read")
            m.d.sync += read.eq(request_valid & ~request_write & condition)
            return read

        def access(name, condition):
            """(write, read): ``condition`` on a write / a read request, each registered in
            the decode step (only where both are used: a flag nothing reads is dead logic)."""
            write = Signal(name=f"{name}_write")
            m.d.sync += write.eq(request_valid & request_write & condition)
            return write, read_flag(name, condition)

        # The read register: a register's word (access step) or a memory row's field (collect
        # step); r_data shows it in the ack cycle only (the network ORs its layers' r_data).
        read_word = Signal(BUS_DATA_BITS)
        read_lane = Signal(range(register_map.lanes_p2))
        m.d.comb += bus.r_data.eq(Mux(ack, read_word, 0))
        # Every readable word with the registered flag that selects it: read_word is their OR
        # (at most one flag is set, none for an unmapped address, which reads 0), a shallow
        # tree rather than a chain of priority selects.
        read_sources = []

        # --- registers ----------------------------------------------------------------------
        hit, offset = region("regs")
        register = Signal(range(8))  # the register's offset, kept for the access step
        with m.If(request_valid):
            m.d.sync += register.eq(offset)
        register_write, register_read = access("register", hit)
        staged_shift = Signal(config.shift_bits, init=self.initial_shift)
        m.d.comb += datapath.shift.eq(staged_shift)
        # Strobes and enables are plain expressions, not comb assignments under m.If: Icarus
        # never evaluates a comb process whose inputs do not change after time 0 (the Verilog
        # backend's dummy trigger is a declaration initializer, which raises no event), and
        # such an enable then stays X, latches X into the datapath's state and the
        # simulation hangs.
        m.d.comb += datapath.commit.eq(register_write & (register == REG_CONTROL) & request_data[0])
        with m.If(register_write & (register == REG_SHIFT)):
            m.d.sync += staged_shift.eq(request_data)
        status = Mux(datapath.commit_pending, STATUS_COMMIT_PENDING, 0) | Mux(
            datapath.busy, STATUS_BUSY, 0
        )
        constants = register_map.constant_registers()
        table = Array(Const(constants.get(address, 0), BUS_DATA_BITS) for address in range(8))
        control_read = read_flag("control", hit & (offset == REG_CONTROL))
        shift_read = read_flag("shift", hit & (offset == REG_SHIFT))
        read_sources += [
            (register_read, table[register]),
            (control_read, status),
            (shift_read, staged_shift),
        ]

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
                level_write, level_read = access(f"level{k}", hit & (offset == k))
                with m.If(level_write):
                    m.d.sync += staged_m.eq(request_data)
                    if config.exponent_bits:
                        m.d.sync += staged_e.eq(request_data[EXPONENT_FIELD:])
                read_sources.append((level_read, word))

        # --- memories ---------------------------------------------------------------------------
        # code word row * lanes_p2 + lane is one lane field of a code memory row
        lane_bits = register_map.lanes_p2.bit_length() - 1
        hit, offset = region("codes")
        row, lane = offset[lane_bits:], offset[:lane_bits]
        code_row = Signal(len(row) or 1)
        # the lane fields the access step writes (zero in every other cycle): flip-flops, so
        # a memory's write enables (SPRAM's sit far from the logic) start from them
        code_w_en = Signal(config.lanes)
        code_hit = hit & (lane < config.lanes) & (row < config.code_rows)
        code_read = read_flag("code", code_hit)
        code_busy = Signal()  # a code write | code_read, its own flip-flop (x.ready reads it)
        takes_port = code_hit  # the request reads or writes a code row
        writes = Mux(request_write & code_hit, Const(1, config.lanes) << lane, 0)
        lane_data = request_data[: config.code_bits].replicate(config.lanes)
        row_select = row
        if register_map.has("packed_codes"):
            # packed word row * words_p2 + word: codes_per_word lane fields from one write
            per_word = register_map.codes_per_word
            word_bits = register_map.packed_words_p2.bit_length() - 1
            packed_hit, packed_offset = region("packed_codes")
            packed_row, word = packed_offset[word_bits:], packed_offset[:word_bits]
            packed_write = Signal()
            packed_target = (
                packed_hit & (word * per_word < config.lanes) & (packed_row < config.code_rows)
            )
            m.d.sync += packed_write.eq(request_valid & request_write & packed_target)
            takes_port = takes_port | (request_write & packed_target)
            packed_lanes = Const((1 << per_word) - 1, config.lanes) << word * per_word
            row_select = Mux(packed_hit, packed_row, row)
            writes = Mux(request_write & packed_target, packed_lanes, writes)
            fields = request_data[: per_word * config.code_bits]
            lane_data = Mux(
                packed_write,
                fields.replicate(-(-config.lanes // per_word))[: config.lanes * config.code_bits],
                lane_data,
            )
        m.d.sync += [
            code_busy.eq(request_valid & takes_port),
            code_w_en.eq(Mux(request_valid, writes, 0)),
        ]
        with m.If(request_valid):
            m.d.sync += code_row.eq(row_select)
        with m.If(request_valid):
            m.d.sync += read_lane.eq(lane)
        memory = datapath.code_mem
        m.d.comb += [memory.r_en.eq(code_read), memory.busy.eq(code_busy)]
        if config.unrolled:
            # a ROM of one code a word at the port's address of it: no select of one lane of
            # n_out (a deep mux, on a long route from the ROM) ahead of the read register
            m.d.comb += memory.addr.eq(Cat(read_lane, code_row))
            code = memory.r_data
        else:
            m.d.comb += [
                memory.addr.eq(code_row),
                memory.w_data.eq(lane_data),
                memory.w_en.eq(code_w_en),  # code_w_en is never 0 with a write
            ]
            code = memory.r_data.word_select(read_lane, config.code_bits)
        # bias (scale) word o is the bias (channel scale) of output o
        fetched = []  # (flag, word) of each per-output memory read, a cycle after its access
        for name in ("bias", "scale"):
            if not getattr(config, f"{name}_bits"):
                continue
            hit, offset = region(name)
            output = Signal(range(config.n_out), name=f"{name}_output")
            with m.If(request_valid):
                m.d.sync += output.eq(offset)
            write, read = access(name, hit & (offset < config.n_out))
            memory = getattr(datapath, f"{name}_mem")
            m.d.comb += [memory.addr.eq(output), memory.w_data.eq(request_data)]
            m.d.comb += [memory.w_en.eq(write), memory.r_en.eq(read), memory.busy.eq(write | read)]
            flag = Signal(name=f"{name}_fetched")
            m.d.sync += flag.eq(read)
            word = memory.r_data.as_signed() if name == "bias" else memory.r_data
            fetched.append((flag, word))
        with m.If(decoded):
            m.d.sync += read_word.eq(balanced_or([Mux(f, v, 0) for f, v in read_sources]))
        # a memory read in the access step: a bias or scale word is on its r_data a cycle
        # later, the code memory's row (registered in the datapath) two cycles later
        code_fetched, code_collect = Signal(), Signal()
        m.d.sync += [code_fetched.eq(code_read), code_collect.eq(code_fetched)]
        for flag, word in fetched:
            with m.If(flag):
                m.d.sync += read_word.eq(word)  # a bias sign-extended
        with m.If(code_collect):
            m.d.sync += read_word.eq(code)
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
    scales : array (n_out,), optional
        Reset value of the channel scale memory (needs ``scale_bits``; default all 1).
    vectors_per_commit : int
        A commit lands only before every N-th vector (``LayerDatapath``): a convolution's
        positions per image, so no image mixes old and new strengths.

    Attributes
    ----------
    x : In(stream.Signature(signed(act_bits)))
    y : Out(stream.Signature(signed(out_bits)))
    bus : In(ConfigBus)
        The configuration port (``jaynes_hw.contract.registers``).

    Latency: a pass's first result 12 cycles (13 with channel scales) after its last input
    beat. Throughput: ``lanes``
    MAC per cycle but one per pass while ``x`` never stalls and ``n_in >= lanes + 5``; one
    vector every ``passes * (n_in + 1)`` cycles.
    """

    def __init__(
        self,
        config: LayerConfig,
        codes: np.ndarray,
        codebook: Codebook,
        *,
        shift: int = 0,
        bias: np.ndarray | None = None,
        vectors_per_commit: int = 1,
        scales: np.ndarray | None = None,
    ):
        if config.kind != "lognormal":
            raise UserError(f"LayerCore needs a lognormal config, not {config.kind!r}")
        super().__init__(config, codes, codebook, shift, bias, vectors_per_commit, scales)


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
    shift, bias, scales :
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
        vectors_per_commit: int = 1,
        scales: np.ndarray | None = None,
    ):
        if config.kind != "int8":
            raise UserError(f"Int8LayerCore needs an int8 config, not {config.kind!r}")
        super().__init__(config, weights, None, shift, bias, vectors_per_commit, scales)
