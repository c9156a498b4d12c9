"""The folded matrix-vector datapath of a layer core.

``LayerDatapath`` computes the reference contract (``jaynes_hw.contract.reference``) on a stream of
input vectors; its tunable values (staged codebook and shift, a commit strobe, the code and
bias memories' access ports) are plain ports. ``jaynes_hw.gateware.core`` puts the register
file in front of it.

Folding (FINN style): ``lanes`` output neurons are computed in parallel; the input vector
is broadcast one activation per cycle, ``passes = ceil(n_out / lanes)`` times. The first
pass takes activations from ``x`` and keeps them in an input buffer that the other passes
replay. One beat = one input index of one pass = ``lanes`` multiply-accumulates.

Pipeline (one beat per cycle, no stall once issued)::

    issue   counters (pass, i); read code row, bias row, input buffer; accept x
    s1      decode each lane's code through the active codebook (sign, mantissa, exponent)
    s2      term = s * (m << e) * x  (int8: w * x)
    s3      acc[lane] = (first beat ? bias : acc) + term
    s4      last beat: copy the lanes' sums into the output bank
    finish  one bank entry a cycle: f1 + 2^(S-1), f2 >> S, then saturate, ReLU -> y register

Every stage holds at most one adder, multiplier or shifter, so the clock is set by the
widest of them (the LUT multiplier where there is one).
A pass may issue its last beat only when the bank is free, so a beat never waits inside
the pipeline and back-pressure on ``y`` simply stops the issue stage.
"""

from __future__ import annotations

import itertools

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.layer_config import LayerConfig


class MemoryAccess(wiring.Signature):
    """Configuration access to one of the datapath's memories, from the initiator's side.

    ``addr`` selects a row; ``w_en`` (one bit per lane) writes ``w_data``'s matching lane
    fields at the clock edge; ``r_en`` reads the row into ``r_data`` one cycle later. A read
    takes the memory's read port from the datapath for that cycle (the datapath stalls).
    """

    def __init__(self, depth: int, lanes: int, field_bits: int):
        self.depth, self.lanes, self.field_bits = depth, lanes, field_bits
        super().__init__(
            {
                "addr": Out(range(depth) if depth > 1 else 1),
                "r_en": Out(1),
                "r_data": In(lanes * field_bits),
                "w_en": Out(lanes),
                "w_data": Out(lanes * field_bits),
            }
        )

    def __eq__(self, other):
        return isinstance(other, MemoryAccess) and (
            other.depth,
            other.lanes,
            other.field_bits,
        ) == (self.depth, self.lanes, self.field_bits)

    def __repr__(self):
        return f"MemoryAccess({self.depth}, {self.lanes}, {self.field_bits})"


class LayerDatapath(wiring.Component):
    """The folded layer datapath, with its tunable values as ports.

    Parameters
    ----------
    config : LayerConfig
    code_init : list of int
        Initial code-memory rows (``memory_image.pack_code_rows``).
    bias_init : list of int
        Initial bias-memory rows (``memory_image.pack_bias_rows``); ignored without bias.
    codebook_init : list of (mantissa, exponent)
        Reset value of the active codebook (``lognormal`` only).
    shift_init : int
        Reset value of the active output shift.

    Attributes
    ----------
    x : In(stream.Signature(signed(act_bits)))
        Input activations, one per beat, vector after vector.
    y : Out(stream.Signature(signed(out_bits)))
        Results, output 0 .. n_out-1 of each vector in order.
    codebook : In(ArrayLayout(StructLayout({"mantissa", "exponent"}), K))
        Staged codebook (``lognormal`` only).
    shift : In(shift_bits)
        Staged output shift; values above ``max_shift`` act as ``max_shift``.
    commit : In(1)
        Strobe: copy the staged codebook and shift into the datapath at the next vector
        boundary (before the next vector's first beat, once every result of the previous
        vector has left the accumulators).
    commit_pending : Out(1)
        A commit has been requested and not yet applied.
    busy : Out(1)
        A vector is in flight (between its first beat and its last result leaving the bank).
    code_mem, bias_mem : In(MemoryAccess)
        Configuration access to the code memory and (with bias) the bias memory.

    Latency and throughput: a pass's first result is on ``y`` ``PIPELINE_LATENCY`` = 8
    cycles after its last input beat issues. With ``y`` always ready and ``x`` never empty,
    the core issues one beat (``lanes`` MAC) every cycle when ``n_in >= lanes + 5``
    (``config.full_rate``); a vector takes ``passes * n_in`` cycles.
    """

    def __init__(
        self,
        config: LayerConfig,
        code_init: list[int],
        bias_init: list[int],
        codebook_init: list[tuple[int, int]],
        shift_init: int,
    ):
        self.config = config
        self._code_init = code_init
        self._bias_init = bias_init
        self._codebook_init = codebook_init
        self._shift_init = shift_init
        members = {
            "x": In(stream.Signature(signed(config.act_bits))),
            "y": Out(stream.Signature(signed(config.out_bits))),
            "shift": In(config.shift_bits, init=shift_init),
            "commit": In(1),
            "commit_pending": Out(1),
            "busy": Out(1),
            "code_mem": In(MemoryAccess(config.code_rows, config.lanes, config.code_bits)),
        }
        if config.kind == "lognormal":
            members["mantissas"] = In(config.mantissa_bits).array(config.codebook_size)
            if config.exponent_bits:
                members["exponents"] = In(config.exponent_bits).array(config.codebook_size)
        if config.bias_bits:
            members["bias_mem"] = In(MemoryAccess(config.passes, config.lanes, config.bias_bits))
        super().__init__(members)

    def elaborate(self, platform):
        config = self.config
        m = Module()
        lanes, n_in, passes = config.lanes, config.n_in, config.passes

        # --- memories ---------------------------------------------------------------------
        m.submodules.codes = codes = Memory(
            shape=unsigned(lanes * config.code_bits), depth=config.code_rows, init=self._code_init
        )
        code_read = codes.read_port()
        code_write = codes.write_port(granularity=config.code_bits)
        m.d.comb += [
            code_write.addr.eq(self.code_mem.addr),
            code_write.data.eq(self.code_mem.w_data),
            code_write.en.eq(self.code_mem.w_en),
            self.code_mem.r_data.eq(code_read.data),
        ]
        bus_reads = self.code_mem.r_en
        if config.bias_bits:
            m.submodules.biases = biases = Memory(
                shape=unsigned(lanes * config.bias_bits), depth=passes, init=self._bias_init
            )
            bias_read = biases.read_port()
            bias_write = biases.write_port(granularity=config.bias_bits)
            m.d.comb += [
                bias_write.addr.eq(self.bias_mem.addr),
                bias_write.data.eq(self.bias_mem.w_data),
                bias_write.en.eq(self.bias_mem.w_en),
                self.bias_mem.r_data.eq(bias_read.data),
            ]
            bus_reads = bus_reads | self.bias_mem.r_en

        # --- issue stage ------------------------------------------------------------------
        # The counters' comparisons are kept in registers beside them (updated with them), so
        # the issue decision is a few gates on flip-flops.
        pass_index = Signal(range(passes))
        input_index = Signal(range(n_in))
        row = Signal(range(config.code_rows))
        first_beat = Signal(init=1)  # input_index == 0
        last_beat = Signal(init=n_in == 1)  # input_index == n_in - 1
        from_stream = Signal(init=1)  # pass_index == 0: the first pass reads x
        final_pass = Signal(init=passes == 1)  # pass_index == passes - 1
        vector_start = first_beat & from_stream

        valid1, finish_valid, valid_f1, valid_f2 = Signal(), Signal(), Signal(), Signal()
        bank_reserved = Signal()  # from a pass's last beat issuing until its bank is drained
        commit_pending = Signal()
        # nothing in flight from issue to the last finish stage (``busy`` is its complement)
        drained = Signal()
        m.d.comb += [
            self.commit_pending.eq(commit_pending),
            self.busy.eq(~(vector_start & drained)),
        ]

        # A pending commit holds the next vector back until the previous one is out, so the
        # swap never lands between two beats of one vector. A configuration read borrows the
        # memories' read ports for a cycle.
        can_issue = ~bus_reads & ~(commit_pending & vector_start) & (~last_beat | ~bank_reserved)
        issue = Signal()
        m.d.comb += [
            self.x.ready.eq(can_issue & from_stream),
            issue.eq(can_issue & Mux(from_stream, self.x.valid, 1)),
        ]
        with m.If(issue):
            with m.If(last_beat):
                m.d.sync += [
                    input_index.eq(0),
                    first_beat.eq(1),
                    last_beat.eq(n_in == 1),
                    bank_reserved.eq(1),
                ]
                with m.If(final_pass):
                    m.d.sync += [
                        row.eq(0),
                        pass_index.eq(0),
                        from_stream.eq(1),
                        final_pass.eq(passes == 1),
                    ]
                with m.Else():
                    m.d.sync += [
                        row.eq(row + 1),
                        pass_index.eq(pass_index + 1),
                        from_stream.eq(0),
                        final_pass.eq(pass_index == passes - 2),
                    ]
            with m.Else():
                m.d.sync += [
                    row.eq(row + 1),
                    input_index.eq(input_index + 1),
                    first_beat.eq(0),
                    last_beat.eq(input_index == n_in - 2),
                ]
        m.d.comb += [
            code_read.addr.eq(Mux(self.code_mem.r_en, self.code_mem.addr, row)),
        ]
        if config.bias_bits:
            m.d.comb += bias_read.addr.eq(Mux(self.bias_mem.r_en, self.bias_mem.addr, pass_index))

        # The first pass keeps the activations for the passes that replay them.
        x_held = Signal(signed(config.act_bits))
        from_stream1 = Signal()
        m.d.sync += [x_held.eq(self.x.payload), from_stream1.eq(from_stream)]
        if passes > 1:
            m.submodules.inputs = inputs = Memory(
                shape=signed(config.act_bits), depth=n_in, init=[]
            )
            input_write = inputs.write_port()
            input_read = inputs.read_port()
            m.d.comb += [
                input_write.addr.eq(input_index),
                input_write.data.eq(self.x.payload),
                input_write.en.eq(issue & from_stream),
                input_read.addr.eq(input_index),
            ]
            x1 = Mux(from_stream1, x_held, input_read.data)
        else:
            x1 = x_held

        # --- s1: decode each lane's code through the active codebook ------------------------
        first1, last1, final1 = Signal(), Signal(), Signal()
        m.d.sync += [
            valid1.eq(issue),
            first1.eq(first_beat),
            last1.eq(last_beat),
            final1.eq(final_pass),
        ]
        apply_commit = commit_pending & vector_start & drained
        active_mantissas, active_exponents, active_shift, active_rounding = self._active_registers(
            m, apply_commit
        )
        m.d.sync += commit_pending.eq(Mux(apply_commit, 0, commit_pending) | self.commit)

        decoded2 = []
        for lane in range(lanes):
            code = code_read.data.word_select(lane, config.code_bits)
            decoded2.append(self._decode(m, x1, code, active_mantissas, active_exponents, lane))

        bias2 = [
            Signal(signed(max(config.bias_bits, 1)), name=f"bias{lane}") for lane in range(lanes)
        ]
        if config.bias_bits:
            for lane, bias in enumerate(bias2):
                m.d.sync += bias.eq(bias_read.data.word_select(lane, config.bias_bits).as_signed())

        # --- s2: signed term s * L * x ---------------------------------------------------------
        valid2, first2, last2, final2 = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            valid2.eq(valid1),
            first2.eq(first1),
            last2.eq(last1),
            final2.eq(final1),
        ]
        terms3 = [Signal(signed(config.product_bits), name=f"term{lane}") for lane in range(lanes)]
        bias3 = [
            Signal(signed(max(config.bias_bits, 1)), name=f"bias3_{lane}") for lane in range(lanes)
        ]
        for term, decoded, bias, bias_next in zip(terms3, decoded2, bias2, bias3, strict=True):
            m.d.sync += [term.eq(self._term(decoded)), bias_next.eq(bias)]

        # --- s3: accumulate -----------------------------------------------------------------
        valid3, first3, last3, final3, final4 = Signal(), Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            valid3.eq(valid2),
            first3.eq(first2),
            last3.eq(last2),
            final3.eq(final2),
            finish_valid.eq(valid3 & last3),
            final4.eq(final3),
        ]
        accumulators = [
            Signal(signed(config.accumulator_bits), name=f"acc{lane}") for lane in range(lanes)
        ]
        m.d.comb += drained.eq(
            ~(valid1 | valid2 | valid3 | finish_valid | bank_reserved | valid_f1 | valid_f2)
        )
        with m.If(valid3):
            for acc, term, bias in zip(accumulators, terms3, bias3, strict=True):
                start = bias if config.bias_bits else Const(0, signed(1))
                m.d.sync += acc.eq(Mux(first3, start, acc) + term)

        # --- s4: bank, then one shared finish pipeline into the y register -----------------
        # f1: + rounding constant; f2: arithmetic shift right; y: saturate and ReLU. The
        # pipeline moves only when the y register is free, so back-pressure stops it whole.
        bank = [
            Signal(signed(config.accumulator_bits), name=f"bank{lane}") for lane in range(lanes)
        ]
        bank_left = Signal(range(lanes + 1))
        rounded_f1 = Signal(signed(config.accumulator_bits + 1))
        shifted_f2 = Signal(signed(config.accumulator_bits + 1))
        y_valid = Signal()
        y_data = Signal(signed(config.out_bits))
        m.d.comb += [self.y.valid.eq(y_valid), self.y.payload.eq(y_data)]
        y_free = ~y_valid | self.y.ready
        with m.If(finish_valid):
            m.d.sync += [entry.eq(acc) for entry, acc in zip(bank, accumulators, strict=True)]
            m.d.sync += bank_left.eq(Mux(final4, config.last_pass_lanes, lanes))
        with m.If(y_free):
            m.d.sync += [
                valid_f1.eq(bank_left != 0),
                rounded_f1.eq(bank[0] + active_rounding),
                valid_f2.eq(valid_f1),
                shifted_f2.eq(rounded_f1 >> active_shift),
                y_valid.eq(valid_f2),
                y_data.eq(self._saturate(shifted_f2)),
            ]
            with m.If(bank_left != 0):
                m.d.sync += bank_left.eq(bank_left - 1)
                m.d.sync += [entry.eq(after) for entry, after in itertools.pairwise(bank)]
                with m.If(bank_left == 1):
                    m.d.sync += bank_reserved.eq(0)
        return m

    def _active_registers(self, m: Module, apply_commit):
        """The codebook, shift and rounding constant the datapath uses, loaded on commit.

        The shift is stored clamped to ``max_shift`` (beyond it every result is the same),
        and with it the rounding constant 2^(S-1) (0 for S = 0), so the finish pipeline has
        no decoder in its path.
        """
        config = self.config
        shift_init = min(self._shift_init, config.max_shift)
        active_shift = Signal(config.shift_bits, init=shift_init)
        active_rounding = Signal(config.accumulator_bits, init=(1 << shift_init) >> 1)
        mantissas, exponents = [], []
        if config.kind == "lognormal":
            for k, (mantissa, exponent) in enumerate(self._codebook_init):
                mantissas.append(Signal(config.mantissa_bits, init=mantissa, name=f"level{k}_m"))
                if config.exponent_bits:
                    exponents.append(
                        Signal(config.exponent_bits, init=exponent, name=f"level{k}_e")
                    )
        with m.If(apply_commit):
            clamped = Mux(self.shift > config.max_shift, config.max_shift, self.shift)
            m.d.sync += [
                active_shift.eq(clamped),
                active_rounding.eq((Const(1, 1) << clamped) >> 1),
            ]
            for k, active in enumerate(mantissas):
                m.d.sync += active.eq(self.mantissas[k])
            for k, active in enumerate(exponents):
                m.d.sync += active.eq(self.exponents[k])
        return mantissas, exponents, active_shift, active_rounding

    def _decode(self, m: Module, x, code, mantissas, exponents, lane: int) -> dict:
        """Register what a lane's code means for the next stage: the activation and the int8
        weight, or the activation already signed by the code and its level's mantissa and
        exponent (so the term stage holds only the multiply and the shift)."""
        config = self.config
        if config.kind == "int8":
            weight = Signal(signed(8), name=f"weight{lane}")
            x_lane = Signal(signed(config.act_bits), name=f"x{lane}")
            m.d.sync += [weight.eq(code.as_signed()), x_lane.eq(x)]
            return {"x": x_lane, "weight": weight}
        level_bin = code[: config.code_bits - 1]
        signed_x = Signal(signed(config.act_bits + 1), name=f"signed_x{lane}")  # -(-2^(A-1)) fits
        mantissa = Signal(config.mantissa_bits, name=f"mantissa{lane}")
        m.d.sync += [
            signed_x.eq(Mux(code[config.code_bits - 1], -x, x)),
            mantissa.eq(Array(mantissas)[level_bin]),
        ]
        decoded = {"x": signed_x, "mantissa": mantissa}
        if config.exponent_bits:
            exponent = Signal(config.exponent_bits, name=f"exponent{lane}")
            m.d.sync += exponent.eq(Array(exponents)[level_bin])
            decoded["exponent"] = exponent
        return decoded

    def _term(self, decoded: dict):
        """s * L * x for one lane, from its decoded code, as a signed ``product_bits`` value."""
        config = self.config
        x = decoded["x"]
        if config.kind == "int8":
            return x * decoded["weight"]
        mantissa = decoded["mantissa"]
        if config.mantissa_bits == 1:
            term = Mux(mantissa, x, 0)  # powers of two: no multiplier, only the shift
        else:
            term = x * mantissa
        if config.exponent_bits:
            term = term << decoded["exponent"]
        return term

    def _saturate(self, value):
        """act(sat(value)): clamp to the signed ``out_bits`` range, then ReLU if configured."""
        config = self.config
        high = (1 << (config.out_bits - 1)) - 1
        low = -(1 << (config.out_bits - 1))
        saturated = Mux(value > high, high, Mux(value < low, low, value))
        if config.relu:
            return Mux(saturated < 0, 0, saturated)
        return saturated
