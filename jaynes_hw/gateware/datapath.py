"""The folded matrix-vector datapath of a layer core.

``LayerDatapath`` computes the reference contract (``jaynes_hw.contract.reference``) on a
stream of input vectors; its tunable values (staged codebook and shift, a commit strobe, the
code and bias memories' access ports) are plain ports. ``jaynes_hw.gateware.core`` puts the
register file in front of it.

Folding (FINN style): ``lanes`` output neurons are computed in parallel; the input vector
is broadcast one activation per cycle, ``passes = ceil(n_out / lanes)`` times. The first
pass takes activations from ``x`` and keeps them in an input buffer that the other passes
replay. One beat = one input index of one pass = ``lanes`` multiply-accumulates.

Pipeline (one beat per cycle, no stall once issued; a pass takes ``n_in`` beats and one
idle cycle)::

    issue   counters (pass, i); read the code row and the input buffer; accept x; after a
            pass's last beat, one cycle without a beat
    read    the memories' outputs and x into registers (a block RAM's output is slow: on
            the ECP5 its clock-to-output alone is 5.8 ns)
    s1      the beat's activation x into one register shared by every lane, and
              per_lane: each lane's code decoded (sign; level, or pow2 shift; int8 weight)
              shared:   the K products L[k] * x, once for all lanes; the codes delayed
    s2      each lane's term t = L[bin] * x (per_lane: multiply or shift; shared: a K:1
            select of the products), stored as t XOR sign
    s3      acc[lane] += (t XOR sign) + sign   (= +-t, one adder with a carry-in)
    s4      after a pass's last beat (the idle cycle): the accumulators into the output bank,
            and cleared (the flip-flops' synchronous reset)
    finish  one bank entry a cycle, when the output queue has room for it: f0 + 2^(S-1)
            (and the output's bias read, in order), f1 + bias, f2 >> S, f3 saturate and
            ReLU, then into the output queue (``output_queue_places``), whose head is ``y``;
            with channel scales (``scale_bits``): f0 the sum (and the output's scale and
            bias read), f1 sum * scale beside bias + 2^(S-1), f2 their sum, f3 >> S, f4
            saturate and ReLU

The two datapaths compute the same contract bit for bit (``LayerConfig.datapath``):
``per_lane`` gives every lane its own multiplier (or, for powers of two, a shifter);
``shared`` makes the K products once per beat, so a lane is a K:1 select and an adder.
Every stage holds at most one adder, multiplier, shifter or select. A pass may issue its
last beat only when the bank is free, so a beat never waits inside the pipeline and
back-pressure on ``y`` stops the bank's drain and then the issue stage, never a pipeline
stage. A lane's accumulator and bank entry
are ``sum_bits`` wide (the terms only); the scale and the bias join in the finish stage,
which is ``accumulator_bits`` wide.
"""

from __future__ import annotations

import itertools

from amaranth.hdl import (
    Array,
    Assert,
    Assume,
    Cat,
    Const,
    Module,
    Mux,
    ResetSignal,
    Signal,
    signed,
    unsigned,
)
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.gateware.block_ram import IN_BLOCK_RAM
from jaynes_hw.gateware.code_memory import SinglePortCodes
from jaynes_hw.gateware.stream_fifo import StreamFIFO


class MemoryAccess(wiring.Signature):
    """Configuration access to one of the datapath's memories, from the initiator's side.

    ``addr`` selects a row; ``w_en`` (one bit per field) writes ``w_data``'s matching fields
    at the clock edge; ``r_en`` reads the row into ``r_data`` (code memory: two cycles later,
    bias memory: one). A read takes the memory's read port from the datapath for that cycle
    (the datapath stalls); so does a write to a single-port memory. ``busy`` is
    ``r_en | w_en.any()`` given as one signal (the initiator's OR of its flip-flops), so that
    stall, which ``x.ready`` follows, is not an OR over every field's enable.
    """

    def __init__(self, depth: int, fields: int, field_bits: int):
        self.depth, self.fields, self.field_bits = depth, fields, field_bits
        super().__init__(
            {
                "addr": Out(range(depth) if depth > 1 else 1),
                "r_en": Out(1),
                "busy": Out(1),
                "r_data": In(fields * field_bits),
                "w_en": Out(fields),
                "w_data": Out(fields * field_bits),
            }
        )

    def __eq__(self, other):
        return isinstance(other, MemoryAccess) and (
            other.depth,
            other.fields,
            other.field_bits,
        ) == (self.depth, self.fields, self.field_bits)

    def __repr__(self):
        return f"MemoryAccess({self.depth}, {self.fields}, {self.field_bits})"


class LayerDatapath(wiring.Component):
    """The folded layer datapath, with its tunable values as ports.

    Parameters
    ----------
    config : LayerConfig
    code_init : list of int
        Initial code-memory rows (``memory_image.pack_code_rows``).
    bias_init : list of int
        Initial bias memory, one output a row (``memory_image.pack_bias_rows``); ignored
        without bias.
    codebook_init : list of (mantissa, exponent)
        Reset value of the active codebook (``lognormal`` only).
    shift_init : int
        Reset value of the active output shift.
    promises : collection of str
        Formal properties to emit beside the logic (``PROMISES``; none by default, so the
        emitted Verilog has none): ``Assert`` statements that SymbiYosys proves
        (``jaynes_hw.formal``).

    Attributes
    ----------
    x : In(stream.Signature(signed(act_bits)))
        Input activations, one per beat, vector after vector.
    y : Out(stream.Signature(signed(out_bits)))
        Results, output 0 .. n_out-1 of each vector in order.
    mantissas, exponents : In(...).array(K)
        Staged codebook (``lognormal`` only; ``exponents`` only with ``exponent_bits``).
    shift : In(shift_bits)
        Staged output shift; values above ``max_shift`` act as ``max_shift``. It must be
        stable for a cycle before a commit is applied (the register file's bus accesses
        take five).
    commit : In(1)
        Strobe: copy the staged codebook and shift into the datapath at the next vector
        boundary (before the next vector's first beat, once every result of the previous
        vector has left the accumulators); with ``vectors_per_commit`` N > 1, only before
        vectors 0, N, 2N ... (a convolution's image boundaries: its N positions).
    commit_pending : Out(1)
        A commit has been requested and not yet applied.
    busy : Out(1)
        A vector is in flight (between its first beat and its last result leaving the bank),
        as it was the cycle before.
    code_mem, bias_mem, scale_mem : In(MemoryAccess)
        Configuration access to the code memory (a row of ``lanes`` codes per beat) and,
        with bias or channel scales, the bias and scale memories (one output a row). The
        scales are staged like the codebook: ``scale_mem`` reaches a second bank, which a
        commit makes the active one (and the active one the staged one).

    Latency and throughput: a pass's first result is on ``y`` ``config.pipeline_latency``
    (12; 13 with channel scales) cycles after its last input beat issues. With ``y`` always
    ready and ``x`` never empty, the core issues a beat (``lanes`` MAC) every cycle but one
    per pass when ``n_in >= lanes + 5`` (``config.full_rate``); a vector takes
    ``passes * (n_in + 1)`` cycles.
    """

    def __init__(
        self,
        config: LayerConfig,
        code_init: list[int],
        bias_init: list[int],
        codebook_init: list[tuple[int, int]],
        shift_init: int,
        promises=(),
        vectors_per_commit: int = 1,
        scale_init: list[int] = (),
    ):
        if not isinstance(vectors_per_commit, int) or vectors_per_commit < 1:
            raise ValueError(
                f"vectors_per_commit must be a positive integer, not {vectors_per_commit!r}"
            )
        self.vectors_per_commit = vectors_per_commit
        unknown = set(promises) - set(PROMISES)
        if unknown:
            raise ValueError(f"unknown promises {sorted(unknown)}; expected some of {PROMISES}")
        self.promises = frozenset(promises)
        self.config = config
        self._code_init = code_init
        self._bias_init = bias_init
        self._scale_init = list(scale_init)
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
            members["bias_mem"] = In(MemoryAccess(config.n_out, 1, config.bias_bits))
        if config.scale_bits:
            members["scale_mem"] = In(MemoryAccess(config.n_out, 1, config.scale_bits))
        super().__init__(members)

    def elaborate(self, platform):
        config = self.config
        m = Module()
        lanes, n_in, passes = config.lanes, config.n_in, config.passes

        # --- memories ---------------------------------------------------------------------
        # The code row the issue stage names (``row``) unless the configuration port reads
        # or, single-port, writes one; ``code_row`` is that row a cycle later.
        code_row_address = Signal(range(config.code_rows) if config.code_rows > 1 else 1)
        if config.code_memory == "spram":
            m.submodules.codes = codes = SinglePortCodes(config)
            port_takes_codes = self.code_mem.busy
            m.d.comb += [
                codes.addr.eq(code_row_address),
                codes.w_en.eq(self.code_mem.w_en),
                codes.w_data.eq(self.code_mem.w_data),
            ]
            code_row = codes.r_data
        else:
            m.submodules.codes = codes = Memory(
                shape=unsigned(lanes * config.code_bits),
                depth=config.code_rows,
                init=self._code_init,
            )
            code_read = codes.read_port()
            code_write = codes.write_port(granularity=config.code_bits)
            port_takes_codes = self.code_mem.r_en
            m.d.comb += [
                code_write.addr.eq(self.code_mem.addr),
                code_write.data.eq(self.code_mem.w_data),
                code_write.en.eq(self.code_mem.w_en),
                code_read.addr.eq(code_row_address),
            ]
            code_row = code_read.data

        # --- issue stage ------------------------------------------------------------------
        # The counters' comparisons are kept in registers beside them (updated with them), and
        # so is the one condition that holds the issue back (``blocked``, computed from the
        # flags' next values), so ``x.ready`` and the issue decision are one gate on
        # flip-flops: the stream's source sees a short path.
        pass_index = Signal(range(passes))
        input_index = Signal(range(n_in))
        row = Signal(range(config.code_rows))
        first_beat = Signal(init=1)  # input_index == 0
        last_beat = Signal(init=n_in == 1)  # input_index == n_in - 1
        from_stream = Signal(init=1)  # pass_index == 0: the first pass reads x
        final_pass = Signal(init=passes == 1)  # pass_index == passes - 1
        vector_start = first_beat & from_stream

        valid1 = Signal()
        valid_f0, valid_f1, valid_f2, valid_f3 = Signal(), Signal(), Signal(), Signal()
        bank_reserved = Signal()  # from a pass's last beat issuing until its bank is drained
        commit_pending = Signal()
        # nothing in flight from issue to the last finish stage that reads the active
        # registers (f2); a flip-flop, set from the stages' next values, so a commit is one
        # gate on flip-flops (``busy`` is its complement at a vector's start)
        drained = Signal(init=1)
        drain = Signal()  # the bank's head enters the finish pipeline (f0) this cycle
        busy = Signal()  # registered: a status bit, read a cycle late
        m.d.sync += busy.eq(~(vector_start & drained))
        m.d.comb += [self.commit_pending.eq(commit_pending), self.busy.eq(busy)]

        # A pending commit holds the next vector back until the previous one is out, so the
        # swap never lands between two beats of one vector; a pass's last beat waits for the
        # bank. A configuration read of the code memory (single-port: a write too) borrows
        # its port for a cycle.
        # blocked: a pass ended last cycle | (commit_pending & vector_start) |
        #          (last_beat & bank_reserved)
        blocked = Signal()
        can_issue = ~port_takes_codes & ~blocked
        issue = Signal()
        m.d.comb += [
            self.x.ready.eq(can_issue & from_stream),
            issue.eq(can_issue & Mux(from_stream, self.x.valid, 1)),
        ]
        with m.If(issue):
            with m.If(last_beat):
                m.d.sync += input_index.eq(0)
                with m.If(final_pass):
                    m.d.sync += [row.eq(0), pass_index.eq(0), final_pass.eq(passes == 1)]
                with m.Else():
                    m.d.sync += [
                        row.eq(row + 1),
                        pass_index.eq(pass_index + 1),
                        final_pass.eq(pass_index == passes - 2),
                    ]
            with m.Else():
                m.d.sync += [row.eq(row + 1), input_index.eq(input_index + 1)]
        # the flags that ``blocked`` reads, as next values
        pass_ends = issue & last_beat
        first_beat_next = Mux(issue, last_beat, first_beat)
        last_beat_next = Mux(issue, Mux(last_beat, n_in == 1, input_index == n_in - 2), last_beat)
        from_stream_next = Mux(pass_ends, final_pass, from_stream)
        bank_drained = Signal()  # the bank's last entry leaves this cycle
        bank_reserved_next = Mux(pass_ends, 1, Mux(bank_drained, 0, bank_reserved))
        # may a commit land before the vector that starts next (every vector, or the first of
        # each run of vectors_per_commit), and the same a cycle later
        commit_here, commit_here_next = self._commit_boundaries(m, issue & vector_start)
        apply_commit = commit_pending & vector_start & drained
        if commit_here is not None:
            apply_commit = apply_commit & commit_here
        commit_pending_next = Mux(apply_commit, 0, commit_pending) | self.commit
        # a pending commit holds back the next vector (only one it may land before); where
        # first_beat_next holds, a beat issued now was a pass's last, so from_stream_next is
        # Mux(issue, final_pass, from_stream)
        commit_waits = commit_pending_next & first_beat_next & Mux(issue, final_pass, from_stream)
        if commit_here_next is not None:
            commit_waits = commit_waits & commit_here_next
        m.d.sync += [
            first_beat.eq(first_beat_next),
            last_beat.eq(last_beat_next),
            from_stream.eq(from_stream_next),
            bank_reserved.eq(bank_reserved_next),
            commit_pending.eq(commit_pending_next),
            blocked.eq(
                pass_ends  # one idle beat after a pass: its accumulators empty into the bank
                | commit_waits
                | (last_beat_next & bank_reserved_next)
            ),
        ]
        m.d.comb += code_row_address.eq(Mux(port_takes_codes, self.code_mem.addr, row))

        # The first pass keeps the activations for the passes that replay them.
        x_held = Signal(signed(config.act_bits), reset_less=True)
        from_stream1 = Signal()
        m.d.sync += [x_held.eq(self.x.payload), from_stream1.eq(from_stream)]
        if passes > 1:
            m.submodules.inputs = inputs = Memory(
                shape=signed(config.act_bits), depth=n_in, init=[], attrs=IN_BLOCK_RAM
            )
            input_write = inputs.write_port()
            input_read = inputs.read_port()
            m.d.comb += [
                input_write.addr.eq(input_index),
                input_write.data.eq(self.x.payload),
                input_write.en.eq(issue & from_stream),
                input_read.addr.eq(input_index),
            ]
            x0 = Mux(from_stream1, x_held, input_read.data)
        else:
            x0 = x_held

        # --- read: the memories' outputs into registers (a block RAM's output is slow) ------
        valid0, last0, final0 = Signal(), Signal(), Signal()
        m.d.sync += [valid0.eq(issue), last0.eq(last_beat), final0.eq(final_pass)]
        x1 = Signal(signed(config.act_bits), reset_less=True)
        code_row1 = Signal(lanes * config.code_bits, reset_less=True)
        m.d.sync += [x1.eq(x0), code_row1.eq(code_row)]
        m.d.comb += self.code_mem.r_data.eq(code_row1)  # a configuration read's row, too

        # --- s1: the shared activation register; codes decoded or products made ---------------
        last1, final1 = Signal(), Signal()
        m.d.sync += [
            valid1.eq(valid0),
            last1.eq(last0),
            final1.eq(final0),
        ]
        active, active_shift, active_rounding = self._active_registers(m, apply_commit)

        x2 = Signal(signed(config.act_bits), reset_less=True)  # one register for every lane
        m.d.sync += x2.eq(x1)
        codes1 = [code_row1.word_select(lane, config.code_bits) for lane in range(lanes)]
        if config.datapath == "shared":
            terms3, signs3 = self._shared_terms(m, x1, codes1, active)
        else:
            terms3, signs3 = self._per_lane_terms(m, x2, codes1, active)

        # --- s2 -> s3: control follows the data ---------------------------------------------
        valid2, last2, final2 = Signal(), Signal(), Signal()
        valid3, last3, final3 = Signal(), Signal(), Signal()
        m.d.sync += [
            valid2.eq(valid1),
            last2.eq(last1),
            final2.eq(final1),
            valid3.eq(valid2),
            last3.eq(last2),
            final3.eq(final2),
        ]

        # --- s3: accumulate +-t as (t XOR sign) + sign, one adder with a carry-in ------------
        # The cycle after a pass's last beat (s4) is always idle in s3 (the issue stage leaves
        # a gap): the bank takes the accumulators then, and they are cleared by their
        # flip-flops' synchronous reset. So an accumulator bit is one logic cell (adder LUT,
        # carry and flip-flop), with no "first beat" select and no second reader of its
        # adder's output (an iCE40 cell whose LUT output leaves it cannot keep its
        # flip-flop); and every other lane register is a plain (enabled) flip-flop.
        load_bank, final4 = Signal(), Signal()
        m.d.sync += [load_bank.eq(valid3 & last3), final4.eq(final3)]
        clear = Signal()
        m.d.comb += clear.eq(ResetSignal() | load_bank)
        self._promise_bounded_sums(m, valid3, clear)
        in_flight_next = [issue, valid0, valid1, valid2, valid3 & last3, bank_reserved_next]
        # the finish stages up to the last reader of the active shift, next
        in_flight_next += [drain, valid_f0, valid_f1, valid_f2][: config.finish_stages - 1]
        m.d.sync += drained.eq(~balanced_or(in_flight_next))
        accumulators = []
        for lane, (term, sign) in enumerate(zip(terms3, signs3, strict=True)):
            acc = Signal(signed(config.sum_bits), name=f"acc{lane}", reset_less=True)
            with m.If(clear):
                m.d.sync += acc.eq(0)
            with m.Elif(valid3):
                m.d.sync += acc.eq(acc + term + sign)
            accumulators.append(acc)

        # --- finish: one shared pipeline from the bank's head into the output queue ---------
        # The pipeline never stalls: an entry leaves the bank only with a credit, a free
        # place in the output queue for it counted with everything already on its way
        # (``output_queue_places``), so back-pressure on ``y`` stops the bank, never the
        # pipeline, and the bank's shift enable is one gate on flip-flops. A configuration
        # read of the bias memory holds the bank for that cycle.
        bank_left = Signal(range(lanes + 1))
        # ``bank_left``'s comparisons kept as flags beside it
        bank_nonempty = Signal()  # bank_left != 0
        bank_single = Signal()  # bank_left == 1
        # The bank: loaded with the lanes' sums after a pass's last beat, then shifted towards
        # its head one entry per drain (the two never coincide: the bank is reserved).
        bank = [
            Signal(signed(config.sum_bits), name=f"bank{lane}", reset_less=True)
            for lane in range(lanes)
        ]
        with m.If(drain):
            m.d.sync += [entry.eq(after) for entry, after in itertools.pairwise(bank)]
        with m.Elif(load_bank):
            m.d.sync += [entry.eq(acc) for entry, acc in zip(bank, accumulators, strict=True)]
        with m.If(load_bank):
            m.d.sync += [
                bank_left.eq(Mux(final4, config.last_pass_lanes, lanes)),
                bank_nonempty.eq(1),
                bank_single.eq(Mux(final4, config.last_pass_lanes == 1, lanes == 1)),
            ]
        with m.Elif(drain):
            m.d.sync += [
                bank_left.eq(bank_left - 1),
                bank_nonempty.eq(~bank_single),
                bank_single.eq(bank_left == 2),
            ]
        bias, bias_busy, _ = self._per_output_reader(m, "bias", drain)
        scale, scale_busy, scale_bank = self._per_output_reader(m, "scale", drain, apply_commit)
        valid_shifted, shifted = self._finish_stages(
            m, drain, bank[0], bias, scale, active_shift, active_rounding,
            (valid_f0, valid_f1, valid_f2, valid_f3),
        )  # fmt: skip
        credit = self._output_queue(
            m, drain, valid_shifted, saturate(shifted, config.out_bits, config.relu)
        )
        m.d.comb += [
            drain.eq(bank_nonempty & credit & ~bias_busy & ~scale_busy),
            bank_drained.eq(drain & bank_single),
        ]
        if self.promises:  # the proofs start from reset and hold the reset low after it
            m.d.comb += Assume(~ResetSignal())
            access = self.code_mem  # an initiator keeps MemoryAccess's promise of ``busy``
            m.d.comb += Assume(access.busy == (access.r_en | access.w_en.any()))
        if self.promises & {"commit", "streams"}:
            active_values = [active_shift, active_rounding, *itertools.chain(*active.values())]
            active_values += [scale_bank] if scale_bank is not None else []
            self._promise_whole_vectors(m, active_values, valid_shifted)
        return m

    # --- promises: formal properties (``promises``), proven by ``jaynes_hw.formal`` ----------
    # overflow: every term is at most max_level * 2^(act_bits-1) in magnitude, and a lane
    #   adds at most n_in terms between two clears and never loses one to a clear; so its
    #   sum is at most n_in * max_level * 2^(act_bits-1) in magnitude, which ``sum_bits``
    #   holds (``accumulator_width``), and the finish stage is two bits wider than the
    #   accumulator (rounding and bias cannot overflow it). Stated this way, the proof never
    #   has to reason about a sum of products (which no SMT solver does fast).

    def _promise_bounded_term(self, m: Module, term, what: str):
        """overflow: |term| <= max_level * 2^(act_bits-1), every cycle."""
        if "overflow" in self.promises:
            largest = self.config.max_level << (self.config.act_bits - 1)
            m.d.comb += Assert((term <= largest) & (term >= -largest), f"{what} out of range")

    def _promise_bounded_sums(self, m: Module, valid3, clear):
        """overflow: at most ``n_in`` terms reach the accumulators between two clears, and
        no term arrives in a clearing cycle."""
        if "overflow" not in self.promises:
            return
        n_in = self.config.n_in
        terms = Signal(range(n_in + 2))  # terms since the last clear, stops at n_in + 1
        with m.If(clear):
            m.d.sync += terms.eq(0)
        with m.Elif(valid3 & (terms <= n_in)):
            m.d.sync += terms.eq(terms + 1)
        m.d.comb += [
            Assert(terms <= n_in, "an accumulator took more than n_in terms"),
            Assert(~(valid3 & clear), "a term arrived as the accumulators were cleared"),
        ]

    def _promise_whole_vectors(self, m: Module, active_values: list, valid_shifted):
        """The promises stated on the streams, counted beat by beat (``commit``, ``streams``).

        commit: the active registers (codebook levels, shift, rounding) change only between
            vectors: when they change, no beat of an unfinished vector has been taken from
            ``x`` and every result of every vector taken has passed the finish stage's last
            reader of them (the shift).
        streams: ``y`` holds its valid until taken; the output queue never refuses a
            result; ``y`` never delivers more results than ``n_out`` per complete input
            vector (no beat made up or duplicated); and once ``x`` and the configuration
            reads are quiet and ``y`` is ready for ``drain_cycles``, every result owed has
            been delivered (no beat lost). ``y`` is the output queue's read side, whose
            payload held while waiting the queue's own proof covers (``jaynes_hw.formal``).
        """
        config = self.config
        # room for eight vectors' results, more than the pipeline and queue ever owe
        owed_bits = (8 * config.n_out).bit_length() + 1
        taken = self.x.valid & self.x.ready
        beat_of_vector = Signal(range(config.n_in))  # beats of the unfinished vector taken
        vector_taken = taken & (beat_of_vector == config.n_in - 1)
        with m.If(taken):
            m.d.sync += beat_of_vector.eq(Mux(vector_taken, 0, beat_of_vector + 1))
        # results of complete vectors not yet through f2 / not yet taken from y
        unfinished = Signal(signed(owed_bits))
        undelivered = Signal(signed(owed_bits))
        delivered = self.y.valid & self.y.ready
        owed = Mux(vector_taken, config.n_out, 0)
        m.d.sync += [
            unfinished.eq(unfinished + owed - valid_shifted),
            undelivered.eq(undelivered + owed - delivered),
        ]
        if "commit" in self.promises:
            between_vectors = Signal()  # last cycle: the condition for the registers to change
            previous = Signal(len(Cat(*active_values)))
            m.d.sync += [
                previous.eq(Cat(*active_values)),
                between_vectors.eq((beat_of_vector == 0) & (unfinished == valid_shifted)),
            ]
            first_cycle = Signal(init=1)
            m.d.sync += first_cycle.eq(0)
            changed = ~first_cycle & (previous != Cat(*active_values))
            m.d.comb += Assert(
                ~changed | between_vectors, "the active registers changed within a vector"
            )
        if "streams" in self.promises:
            waiting = Signal()  # last cycle: y valid and not ready
            m.d.sync += waiting.eq(self.y.valid & ~self.y.ready)
            m.d.comb += [
                Assert(~waiting | self.y.valid, "y dropped valid before it was taken"),
                Assert(undelivered >= 0, "y delivered more results than the vectors taken"),
            ]
            drain = drain_cycles(config)
            quiet_for = Signal(range(drain + 1))
            quiet = self.y.ready & ~self.x.valid & ~self.code_mem.r_en
            if config.bias_bits:
                quiet &= ~self.bias_mem.r_en
            if config.scale_bits:
                quiet &= ~self.scale_mem.r_en
            m.d.sync += quiet_for.eq(Mux(quiet, Mux(quiet_for == drain, drain, quiet_for + 1), 0))
            m.d.comb += Assert(
                (quiet_for != drain) | (undelivered == 0),
                "a result owed was not delivered while x was quiet and y ready",
            )

    def _finish_stages(self, m, drain, bank0, bias, scale, shift, rounding, valids):
        """The finish pipeline from the bank's head (``bank0``, entering when ``drain``) to
        the shifted result: returns (valid, value) of its last stage, before saturation.

        Without scales: f0 = sum + 2^(S-1), f1 = f0 + bias, f2 = f1 >> S. With scales: f0 =
        sum, f1 = f0 * scale beside bias + 2^(S-1) (the two memories' words are on their
        ports while the output is in f0), f2 = their sum, f3 = f2 >> S. One adder, multiplier
        or shifter a stage.
        """
        config = self.config
        valid_f0, valid_f1, valid_f2, valid_f3 = valids
        wide = signed(config.accumulator_bits + 2)
        m.d.sync += [valid_f0.eq(drain), valid_f1.eq(valid_f0), valid_f2.eq(valid_f1)]
        if not config.scale_bits:
            value_f0 = Signal(signed(config.accumulator_bits + 1), reset_less=True)
            rounded_f1 = Signal(wide, reset_less=True)
            shifted_f2 = Signal(wide, reset_less=True)
            m.d.sync += [
                value_f0.eq(bank0 + rounding),
                rounded_f1.eq(value_f0 + bias),
                shifted_f2.eq(rounded_f1 >> shift),
            ]
            return valid_f2, shifted_f2
        value_f0 = Signal(signed(config.sum_bits), reset_less=True)
        scaled_f1 = Signal(wide, reset_less=True)
        offset_f1 = Signal(wide, reset_less=True)
        rounded_f2 = Signal(wide, reset_less=True)
        shifted_f3 = Signal(wide, reset_less=True)
        m.d.sync += [
            value_f0.eq(bank0),
            scaled_f1.eq(value_f0 * scale),
            offset_f1.eq(bias + rounding),
            rounded_f2.eq(scaled_f1 + offset_f1),
            valid_f3.eq(valid_f2),
            shifted_f3.eq(rounded_f2 >> shift),
        ]
        return valid_f3, shifted_f3

    def _per_output_reader(self, m: Module, name: str, take, apply_commit=None):
        """An output's ``name`` (``bias``: signed, ``scale``: unsigned) from its memory, as
        the read port's output register while the output is in f0 (a constant, 0 or 1, for
        a core without it), whether a configuration read holds the port this cycle (the
        bank must then wait), and the active bank (a flip-flop; None if not double-banked).

        Outputs leave the bank in order 0 .. n_out-1, so a counter (``head``) addresses
        their words; the port reads at the head's address every cycle, so the output that
        enters f0 finds its word on the port the cycle after. A configuration read borrows
        the port for a cycle (its word is on ``r_data`` the cycle after).

        With ``apply_commit`` (the scales) the memory holds two banks, staged and active,
        like the codebook's registers: configuration reads and writes reach the staged bank,
        the finish stage reads the active one, and a commit swaps them (at a vector
        boundary, with nothing in the finish stage). Both banks start with ``init``.
        """
        config = self.config
        bits = getattr(config, f"{name}_bits")
        if not bits:
            constant = Const(int(name == "scale"), 2 if name == "scale" else signed(1))
            return constant, Const(0), None
        init = self._bias_init if name == "bias" else self._scale_init
        access = getattr(self, f"{name}_mem")
        head = Signal(range(config.n_out), name=f"{name}_head")  # the output at the bank's head
        with m.If(take):
            m.d.sync += head.eq(Mux(head == config.n_out - 1, 0, head + 1))
        if apply_commit is None:
            active_bank = None
            depth, staged_addr, active_addr = config.n_out, access.addr, head
        else:  # bank b's word o at address b * 2^w + o, w the width of an output's index
            active_bank = Signal(name=f"{name}_bank")
            with m.If(apply_commit):
                m.d.sync += active_bank.eq(~active_bank)
            words = 1 << len(access.addr)
            init = [*init, *[0] * (words - len(init)), *init]
            depth = words + config.n_out
            staged_addr, active_addr = Cat(access.addr, ~active_bank), Cat(head, active_bank)
        memory = Memory(shape=unsigned(bits), depth=depth, init=init)
        m.submodules[f"{name}es" if name == "bias" else f"{name}s"] = memory
        read, write = memory.read_port(), memory.write_port()
        m.d.comb += [
            write.addr.eq(staged_addr),
            write.data.eq(access.w_data),
            write.en.eq(access.w_en),
            access.r_data.eq(read.data),
            read.addr.eq(Mux(access.r_en, staged_addr, active_addr)),
        ]
        value = read.data.as_signed() if name == "bias" else read.data
        return value, access.r_en, active_bank

    def _output_queue(self, m: Module, drain, push, result):
        """The results' queue in front of ``y``, and its credit: whether one more entry may
        leave the bank this cycle (a flip-flop).

        ``space`` counts the places neither in the queue nor promised to an entry in the
        finish pipeline; it falls with each drain and rises with each result ``y`` takes.
        """
        config = self.config
        places = output_queue_places(config)
        m.submodules.output_queue = queue = StreamFIFO(config.out_bits, places, block_ram=True)
        # the result is registered before the queue's write select (the last finish stage)
        valid_last = Signal(name="valid_saturated")
        result_last = Signal(signed(config.out_bits), name="saturated", reset_less=True)
        m.d.sync += [valid_last.eq(push), result_last.eq(result)]
        m.d.comb += [queue.w.valid.eq(valid_last), queue.w.payload.eq(result_last)]
        if "streams" in self.promises:
            m.d.comb += Assert(~valid_last | queue.w.ready, "the output queue refused a result")
        wiring.connect(m, queue.r, wiring.flipped(self.y))
        # ``space`` moves by at most one a cycle; its comparisons are flags updated from the
        # registered count, so the credit is two gates behind ``drain`` and ``y.ready``.
        space = Signal(range(places + 1), init=places)
        credit = Signal(init=1)  # space != 0
        space_one = Signal(init=places == 1)  # space == 1
        taken = self.y.valid & self.y.ready
        with m.If(drain & ~taken):
            m.d.sync += [space.eq(space - 1), credit.eq(~space_one), space_one.eq(space == 2)]
        with m.Elif(taken & ~drain):
            m.d.sync += [space.eq(space + 1), credit.eq(1), space_one.eq(~credit)]
        return credit

    def _commit_boundaries(self, m: Module, vector_starts):
        """Whether a commit may land before the next vector to start, now and next cycle:
        (None, None) for always; with ``vectors_per_commit`` N > 1, when that vector's index
        is a multiple of N, counted by a register that steps when a vector's first beat
        issues (``vector_starts``)."""
        every = self.vectors_per_commit
        if every == 1:
            return None, None
        next_vector = Signal(range(every))  # index in its run of the next vector to start
        commit_here = Signal(init=1)  # next_vector == 0, a flip-flop
        run_ends = next_vector == every - 1
        with m.If(vector_starts):
            m.d.sync += [
                next_vector.eq(Mux(run_ends, 0, next_vector + 1)),
                commit_here.eq(run_ends),
            ]
        return commit_here, Mux(vector_starts, run_ends, commit_here)

    def _active_registers(self, m: Module, apply_commit):
        """The codebook, shift and rounding constant the datapath uses, loaded on commit.

        Returns ``({"mantissas", "exponents", "levels"}, shift, rounding)``. The levels
        L[k] = m[k] << e[k] are kept ready in registers (the shift happens at the commit, not
        in every beat); powers of two keep m and e, which their shifters use. The shift and
        rounding constant: ``active_shift_registers``.
        """
        config = self.config
        active_shift, active_rounding = active_shift_registers(
            m, config, self.shift, self._shift_init, apply_commit
        )
        active = {"mantissas": [], "exponents": [], "levels": []}
        if config.kind != "lognormal":
            return active, active_shift, active_rounding
        for k, (mantissa, exponent) in enumerate(self._codebook_init):
            if config.mantissa_bits == 1:  # powers of two: m is 0 or 1, e drives a shifter
                bit = Signal(1, init=mantissa, name=f"level{k}_m")
                active["mantissas"].append(bit)
                with m.If(apply_commit):
                    m.d.sync += bit.eq(self.mantissas[k])
                if config.exponent_bits:
                    e = Signal(config.exponent_bits, init=exponent, name=f"level{k}_e")
                    active["exponents"].append(e)
                    with m.If(apply_commit):
                        m.d.sync += e.eq(self.exponents[k])
                continue
            level = Signal(config.level_bits, init=mantissa << exponent, name=f"level{k}")
            active["levels"].append(level)
            staged = self.mantissas[k]
            if config.exponent_bits:
                staged = staged << self.exponents[k]
            with m.If(apply_commit):
                m.d.sync += level.eq(staged)
        return active, active_shift, active_rounding

    def _pow2_term(self, x, mantissa, exponent):
        """m * 2^e * x for a 1-bit mantissa: a shift, or 0."""
        shifted = x if exponent is None else x << exponent
        return Mux(mantissa, shifted, 0)

    def _per_lane_terms(self, m: Module, x2, codes1, active):
        """Each lane decodes its code in s1 and makes its own term in s2.

        Returns the registered terms (t XOR sign) and signs of s3, one per lane."""
        config = self.config
        terms3, signs3 = [], []
        for lane, code in enumerate(codes1):
            term3 = Signal(signed(config.product_bits), name=f"term{lane}", reset_less=True)
            sign3 = Signal(name=f"sign{lane}", reset_less=True)
            terms3.append(term3)
            signs3.append(sign3)
            if config.kind == "int8":
                weight = Signal(signed(8), name=f"weight{lane}", reset_less=True)
                product = x2 * weight
                m.d.sync += [weight.eq(code.as_signed()), term3.eq(product)]
                self._promise_bounded_term(m, product, f"lane {lane}'s product")
                continue  # a signed product: no sign to apply (sign3 stays 0)
            level_bin = code[: config.code_bits - 1]
            sign2 = Signal(name=f"sign2_{lane}", reset_less=True)
            m.d.sync += sign2.eq(code[config.code_bits - 1])
            if config.mantissa_bits == 1:
                mantissa = Signal(name=f"mantissa{lane}", reset_less=True)
                m.d.sync += mantissa.eq(Array(active["mantissas"])[level_bin])
                exponent = None
                if config.exponent_bits:
                    exponent = Signal(config.exponent_bits, name=f"exponent{lane}", reset_less=True)
                    m.d.sync += exponent.eq(Array(active["exponents"])[level_bin])
                term = self._pow2_term(x2, mantissa, exponent)
            else:
                level = Signal(config.level_bits, name=f"level_lane{lane}", reset_less=True)
                m.d.sync += level.eq(Array(active["levels"])[level_bin])
                term = x2 * level
            m.d.sync += [term3.eq(term ^ sign2.replicate(config.product_bits)), sign3.eq(sign2)]
            self._promise_bounded_term(m, term, f"lane {lane}'s term")
        return terms3, signs3

    def _shared_terms(self, m: Module, x1, codes1, active):
        """The K products are made once in s1; each lane selects its own in s2.

        Returns the registered terms (t XOR sign) and signs of s3, one per lane."""
        config = self.config
        products = []
        for k in range(config.codebook_size):
            product = Signal(signed(config.product_bits), name=f"product{k}", reset_less=True)
            if config.mantissa_bits == 1:
                exponents = active["exponents"]
                term = self._pow2_term(
                    x1, active["mantissas"][k], exponents[k] if exponents else None
                )
            else:
                term = x1 * active["levels"][k]
            m.d.sync += product.eq(term)
            self._promise_bounded_term(m, term, f"product {k}")
            products.append(product)
        terms3, signs3 = [], []
        for lane, code in enumerate(codes1):
            hot2 = Signal(config.codebook_size, name=f"hot2_{lane}", reset_less=True)
            sign2 = Signal(name=f"sign2_{lane}", reset_less=True)
            term3 = Signal(signed(config.product_bits), name=f"term{lane}", reset_less=True)
            sign3 = Signal(name=f"sign{lane}", reset_less=True)
            chosen = 0
            for k, product in enumerate(products):
                chosen = chosen | Mux(hot2[k], product, 0)
            m.d.sync += [
                hot2.eq(Const(1, config.codebook_size) << code[: config.code_bits - 1]),
                sign2.eq(code[config.code_bits - 1]),
                term3.eq(chosen ^ sign2.replicate(config.product_bits)),
                sign3.eq(sign2),
            ]
            terms3.append(term3)
            signs3.append(sign3)
        return terms3, signs3


def saturate(value, out_bits: int, relu: bool):
    """act(sat(value)): clamp to the signed ``out_bits`` range, then ReLU if ``relu``.

    ``value`` is in range when its bits from ``out_bits - 1`` up all equal its sign: an AND
    and an OR over those bits, a shallow tree, where two comparisons against the bounds
    would be two carry chains the width of ``value``.
    """
    high = (1 << (out_bits - 1)) - 1
    low = -(1 << (out_bits - 1))
    top = value[out_bits - 1 :]
    negative = value[-1]
    above = ~negative & top.any()
    below = negative & ~top.all()
    kept = value[:out_bits].as_signed()
    if relu:
        return Mux(negative, 0, Mux(above, high, kept))
    return Mux(above, high, Mux(below, low, kept))


def active_shift_registers(m: Module, config: LayerConfig, staged, shift_init: int, apply_commit):
    """The output shift S the finish stage uses and its rounding constant 2^(S-1) (0 for
    S = 0), both loaded from ``staged`` on ``apply_commit``.

    The shift is stored clamped to ``max_shift`` (beyond it every result is the same). The
    staged shift's clamp is worked out ahead, in a register a cycle behind ``staged`` (a
    commit always comes later than that: it is a bus access of its own after the shift's),
    so the commit only decodes a register and the finish stage has no decoder in its path.
    """
    shift_init = min(shift_init, config.max_shift)
    active_shift = Signal(config.shift_bits, init=shift_init)
    active_rounding = Signal(config.accumulator_bits, init=(1 << shift_init) >> 1)
    clamped = Signal(config.shift_bits, init=shift_init)
    m.d.sync += clamped.eq(Mux(staged > config.max_shift, config.max_shift, staged))
    with m.If(apply_commit):
        m.d.sync += [
            active_shift.eq(clamped),
            active_rounding.eq((Const(1, 1) << clamped) >> 1),
        ]
    return active_shift, active_rounding


def output_queue_places(config: LayerConfig) -> int:
    """Places in a folded core's output queue: the finish pipeline's stages and the queue's
    own latency (3), so the bank can drain one entry a cycle while ``y`` takes one a cycle
    (7; 8 with channel scales)."""
    return config.finish_stages + 3


PROMISES = ("overflow", "commit", "streams")  # what LayerDatapath can assert (``promises``)


def drain_cycles(config: LayerConfig) -> int:
    """Cycles within which every result of the input vectors taken reaches ``y`` once ``x``
    and the configuration reads are quiet and ``y`` is ready: the last vector's other passes
    (each waits for the bank when the core is not ``full_rate``), its last pass's idle
    cycle, the pipeline, its bank and two cycles of the output queue (whose earlier results
    leave meanwhile, one a cycle)."""
    bank_wait = max(0, config.lanes + config.BANK_SLACK - config.cycles_per_pass)
    per_pass = config.cycles_per_pass + bank_wait
    return (config.passes - 1) * per_pass + 1 + config.pipeline_latency + config.lanes + 2


def balanced_or(values: list):
    """The OR of ``values`` as a balanced tree (a long chain would be as deep as it is long,
    in the netlist and in the simulator's expression evaluator)."""
    while len(values) > 1:
        pairs = [values[i] | values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[len(pairs) * 2 :]
    return values[0]
