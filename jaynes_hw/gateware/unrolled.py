"""The unrolled layer datapath: connections as wiring, strengths in registers.

``UnrolledDatapath`` computes the reference contract (``jaynes_hw.contract.reference``) for
a whole input vector at once. Each connection's code is fixed at elaboration: output o's
inputs are summed per bin, S[o,k] = sum over the connections of o in bin k of s*x[i], by an
adder tree (adders and subtractors only; the codes are the wiring), and only then weighted
by the tunable levels, y[o] = sum_k L[k]*S[o,k] + b[o], rounded, shifted, saturated and
ReLU'd as every core does. The K levels, the shift and the biases stay registers on the
configuration port (``jaynes_hw.gateware.core``), so the layer is re-tuned without
re-synthesis; its code region reads back the baked codes from a ROM and ignores writes.

Every width is derived from the bounds of what it holds (``Bound``): a tree node from the
inputs' range and the signs below it, a product from ``max_level``, so no register value
and no input can overflow a sum.

Pipeline (every stage one adder, select or shifter). No stage ever stalls, so no enable
fans out to the tens of thousands of stage registers: a vector is taken only with a place
reserved for its results in the output queue (a credit, returned when a result leaves on
``y``), so a result always finds room::

    in       the input vector into registers, then down a delay line (a register a cycle);
             ``x.ready`` is a flip-flop
    tree     D levels of the per-bin adder trees (D = ceil(log2) of the largest bin of any
             output; shallower trees start later, from the delay line). ``unrolled`` with
             ``config.unrolled_skew``: the outputs in groups of 4, group g g cycles behind
             group 0 from here on, its trees reading the line g cycles further down (short
             nets from group to group instead of every input bit to every output). A pair
             +-x[a] +- x[b] that several trees of a group add first is one adder
             (``plan_first_level``: 481 instead of 709 in the digits network's first layer)
    product  S[o,k] * L[k]: powers of two a shifter (one stage); other levels the mantissa's
             partial products summed in ceil(log2(mantissa_bits)) levels, then the exponent's
             shift
    levels   ``unrolled``: the K products of an output summed, ceil(log2 K) levels;
             ``unrolled_serial``: before the product, the select of bin j (j = 0..K-1 over K
             cycles, one multiplier per output); after it, an accumulator
    finish   + rounding (and the output's sign), + bias, >> S (two stages: by a multiple of
             8, then by 0..7), saturate and ReLU
    queue    each group's results into a register (group g ``lag`` g cycles after group
             0), down registers to the queue, arriving together a cycle after the last
             group's; then into one queue (block RAM, ``queue_depth`` vectors: enough
             credits for full rate)

Names: every register of one group of outputs (its trees and pairs, products, sums, finish,
biases, its copies of the active registers, its results) is named ``g<group>_...``, and the
layer's control (credits, valid flags, commit) ``control_...``, so a
floorplan (``jaynes_hw.synth.floorplan``) keeps each group's logic together and the control
in one place; the input delay line, the slices on their way to the queue and the
configuration port are placed freely.

Throughput: ``unrolled`` takes a vector every cycle, ``unrolled_serial`` every K cycles
(``config.cycles_per_vector``). Latency: ``latency_cycles`` (at most
``config.latency_cycles``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.memory_image import unpack_bias_rows
from jaynes_hw.contract.registers import RegisterMap
from jaynes_hw.gateware.block_ram import IN_BLOCK_RAM
from jaynes_hw.gateware.datapath import (
    MemoryAccess,
    active_shift_registers,
    balanced_or,
    saturate,
)
from jaynes_hw.gateware.stream_fifo import Sliced, StreamFIFO

MIN_QUEUE = 3  # StreamFIFO takes one entry a cycle from depth 3 (and never refuses a credit)
SHIFT_STEP_BITS = 3  # the output shift's low bits, applied a stage after its high bits
# The skid buffers between unrolled layers are copies this wide, each with its own control
# (``Sliced``): 4 outputs of 8 bits, one group's
VECTOR_SLICE_BITS = 32


def group_name(group: int, name: str) -> str:
    """The name of a register (or memory) of output group ``group``: ``g<group>_<name>``,
    which ``jaynes_hw.synth.floorplan.GROUP_CELL`` matches."""
    return f"g{group}_{name}"


def control_name(name: str) -> str:
    """The name of a register (or submodule) of a layer's control, kept in one place: its
    credits, valid flags and commit (``control_<name>``, which
    ``jaynes_hw.synth.floorplan.CONTROL_CELL`` matches)."""
    return f"control_{name}"


def vector_shape(element_bits: int, length: int) -> data.ArrayLayout:
    """A whole vector as one stream payload: ``length`` signed ``element_bits`` values,
    element 0 in the low bits."""
    return data.ArrayLayout(signed(element_bits), length)


def signed_bits(low: int, high: int) -> int:
    """The narrowest signed width holding every integer in [low, high]."""
    return max((-low - 1).bit_length() if low < 0 else 0, high.bit_length()) + 1


@dataclass(frozen=True)
class ActiveRegisters:
    """The registers a vector is computed with, as one group of outputs reads them: the K
    levels (exponents ``None`` each without exponent bits), the output shift and its rounding
    constant."""

    mantissas: list
    exponents: list
    shift: Signal
    rounding: Signal


@dataclass(frozen=True)
class Bound:
    """A value in the pipeline: the expression (a register, an input or a constant), the
    range of integers it can hold, and whether the result needs it negated (a subtrahend
    carried up the tree, so negative terms cost no negation of their own)."""

    value: object
    low: int
    high: int
    negated: bool = False

    @property
    def zero(self) -> bool:
        return self.low == self.high == 0


ZERO = Bound(Const(0, signed(2)), 0, 0)


class UnrolledDatapath(wiring.Component):
    """A layer with every output computed at once, its codes fixed in per-bin adder trees.

    Parameters
    ----------
    config : LayerConfig
        ``datapath`` ``unrolled`` or ``unrolled_serial`` (lognormal).
    codes : int array (n_out, n_in)
        The baked codes (sign bit on top of the bin), as unsigned words.
    bias_init : list of int
        Reset value of the biases (one per output, two's complement ``bias_bits``).
    codebook_init : list of (mantissa, exponent)
        Reset value of the active codebook.
    shift_init : int
        Reset value of the active output shift.

    Attributes
    ----------
    x : In(stream.Signature(vector_shape(act_bits, n_in)))
        Whole input vectors.
    y : Out(stream.Signature(vector_shape(out_bits, n_out)))
        Whole result vectors, in order.
    mantissas, exponents, shift, commit, commit_pending, busy
        As ``LayerDatapath``'s: a commit holds ``x`` back until every vector taken has passed
        the stages that read the active registers, then applies them at once, a cycle
        later, and ``x`` stays back that cycle and one per copy of them
        (``config.unrolled_groups``) while the copies load.
    code_mem : In(MemoryAccess(n_in * lanes_p2, 1, code_bits))
        Reads the baked codes, one a word at the configuration port's own address of it
        (row * lanes_p2 + lane, ``RegisterMap``: no lane select after the read); writes do
        nothing.
    bias_mem : In(MemoryAccess(n_out, 1, bias_bits))
        The biases: a write takes effect a cycle later (write them between vectors), a
        read returns the word a cycle later.
    latency_cycles : int
        Cycles from a vector taken on ``x`` to its results on ``y`` (``y`` ready).
    """

    def __init__(
        self,
        config: LayerConfig,
        codes: np.ndarray,
        bias_init: list[int],
        codebook_init: list[tuple[int, int]],
        shift_init: int,
    ):
        if not config.unrolled:
            raise ValueError(f"UnrolledDatapath needs an unrolled config, not {config.datapath!r}")
        self.config = config
        self._codes = np.asarray(codes, dtype=np.int64)
        self._bias_init = bias_init
        self._codebook_init = codebook_init
        self._shift_init = shift_init
        members = {
            "x": In(stream.Signature(vector_shape(config.act_bits, config.n_in))),
            "y": Out(stream.Signature(vector_shape(config.out_bits, config.n_out))),
            "mantissas": In(config.mantissa_bits).array(config.codebook_size),
            "shift": In(config.shift_bits, init=shift_init),
            "commit": In(1),
            "commit_pending": Out(1),
            "busy": Out(1),
            "code_mem": In(MemoryAccess(code_words(config), 1, config.code_bits)),
        }
        if config.exponent_bits:
            members["exponents"] = In(config.exponent_bits).array(config.codebook_size)
        if config.bias_bits:
            members["bias_mem"] = In(MemoryAccess(config.n_out, 1, config.bias_bits))
        super().__init__(members)
        self.latency_cycles = config.unrolled_latency(tree_depth(self._codes, config.codebook_size))

    def elaborate(self, platform):
        config = self.config
        m = Module()
        self._stages = []  # (register, next value): every stage register, moved every cycle
        self._in_flight = []  # every stage's valid flag: a commit waits until all are clear
        K = config.codebook_size

        # --- the output queue, and its credits ---------------------------------------------
        places = queue_depth(self.latency_cycles, config.cycles_per_vector)
        credits = Signal(range(places + 1), init=places, name=control_name("credits"))

        # --- commit: the active registers change only with no vector inside -----------------
        # ``drained`` is a flip-flop: no stage held a vector last cycle and none was taken,
        # so none is inside now (every valid flag's next value is zero when they and
        # ``taken`` all are). The commit's enable is then a gate behind two flip-flops: the OR
        # of every stage's flag (4 logic levels) ahead of its long route to the active
        # registers was the digits network's slowest path (69.51 MHz). That gate's one net
        # to the 61 enables of a layer's active registers was next (9.7 ns, 102.76 MHz), so
        # they load from a flip-flop, ``applying``, a cycle after the gate. A commit lands two
        # cycles after the last vector leaves the stages that read them; no vector is taken
        # in the cycle between.
        commit_pending = Signal(name=control_name("commit_pending"))
        drained = Signal(init=1, name=control_name("drained"))
        apply_commit = commit_pending & drained
        pending_next = self.commit | (commit_pending & ~apply_commit)
        m.d.sync += commit_pending.eq(pending_next)
        applying = Signal(name=control_name("applying"))
        m.d.sync += applying.eq(apply_commit)
        # registered: a status bit, read a cycle late (``drained`` has tens of users beside
        # the stages; the port's read word is not one of them)
        busy = Signal(name=control_name("busy"))
        m.d.sync += busy.eq(~drained)
        m.d.comb += [self.commit_pending.eq(commit_pending), self.busy.eq(busy)]
        mantissas, exponents = self._active_levels(m, applying)
        active_shift, active_rounding = active_shift_registers(
            m, config, self.shift, self._shift_init, applying
        )
        active = ActiveRegisters(mantissas, exponents, active_shift, active_rounding)
        groups = config.unrolled_groups
        per_group = config.UNROLLED_GROUP_OUTPUTS
        group_of = self._group_of = [o // per_group for o in range(config.n_out)]
        copies, loading_next = [active], Const(0)
        if groups > 1:
            copies = self._register_copies(active, groups)
            # bit g: copy g may still differ from the active registers (all set at reset);
            # a vector is taken only once every copy holds what was committed
            loading = Signal(groups, init=(1 << groups) - 1, name=control_name("loading"))
            loading_next = Cat(applying, loading[:-1])
            m.d.sync += loading.eq(loading_next)
        output_copies = [copies[g] for g in group_of]

        # --- in: a vector every cycle (serial: every K cycles) ------------------------------
        # ``x.ready`` is a flip-flop, loaded with what the state it depends on (credits, a
        # commit pending, copies loading, the serial phase) will be: the next layer's or the
        # adapter's handshake logic sees it straight from a register, however far away.
        ready = Signal(init=groups == 1, name=control_name("ready"))  # copies load at reset
        m.d.comb += self.x.ready.eq(ready)
        taken = self.x.valid & ready
        returned = self.y.valid & self.y.ready
        credits_next = credits - taken + returned
        m.d.sync += credits.eq(credits_next)
        # credits >= 2 (``places`` >= MIN_QUEUE at reset)
        plenty = Signal(init=1, name=control_name("plenty"))
        # two or more next cycle, without the count's adder (it and the compare after it
        # were a small layer's slowest path): from 3, always; from 2, unless one is taken
        # and none returned; from 1, if one is returned and none taken
        m.d.sync += plenty.eq(
            (credits >= 3)
            | ((credits == 2) & (returned | ~taken))
            | ((credits == 1) & returned & ~taken)
        )
        # whether a credit is left next cycle, without the adder either: with two or more
        # always, since a cycle takes at most one; else with one not taken, or one returned
        # (no vector is taken with none: ``ready`` was low)
        credit_left = plenty | returned | (credits[0] & ~taken)
        ready_next = credit_left & ~pending_next & ~apply_commit & ~loading_next.any()
        # serial: cycles since the last vector taken, mod K
        phase = Signal(range(K), name=control_name("phase"))
        serial = config.datapath == "unrolled_serial"
        if serial:
            phase_next = Mux((phase != 0) | taken, Mux(phase == K - 1, 0, phase + 1), phase)
            m.d.sync += phase.eq(phase_next)
            ready_next &= phase_next == 0
        m.d.sync += ready.eq(ready_next)
        low, high = -(1 << (config.act_bits - 1)), (1 << (config.act_bits - 1)) - 1
        inputs = []
        for i in range(config.n_in):
            held = Signal(signed(config.act_bits), name=f"x{i}", reset_less=True)
            if serial:  # the trees' roots must hold a vector's sums for its K cycles
                with m.If(taken):
                    m.d.sync += held.eq(self.x.payload[i])
            else:  # only the valid flag says whether a vector was taken
                m.d.sync += held.eq(self.x.payload[i])
            inputs.append(Bound(held, low, high))
        valid = self._valid(taken, "in")

        # --- per-bin adder trees -------------------------------------------------------------
        # One delay line per input (``delayed``: x[i] ``cycles`` after its register), read by
        # the trees both as their inputs and as their delays. ``unrolled_skew``: group g of
        # outputs runs g cycles behind group 0 and reads the line from there on, so each copy of an
        # input bit is a short net to a few neighbouring groups, not one net to every output
        # (which congested routing); the results of the groups before the last wait for it.
        # A tree shallower than the deepest starts later, and a tree's odd leaf joins a level
        # later, both from the line: no node is carried through a register of its own.
        skewed = config.unrolled_skew > 0
        lag = [g if skewed else 0 for g in group_of]  # cycles output o runs behind output 0
        delays = {(i, 0): bound for i, bound in enumerate(inputs)}

        def delayed(i: int, cycles: int) -> Bound:
            if (i, cycles) not in delays:
                before = delayed(i, cycles - 1)
                delays[i, cycles] = self._register(before.value, low, high, f"x{i}_d{cycles}")
            return delays[i, cycles]

        # A pair +-x[a] +- x[b] that several trees of one group add at one level is one
        # adder, its register read by all of them (``plan_first_level``).
        depth = tree_depth(self._codes, K)
        leaves = {
            (o, k): [
                (i, bool(code >> (config.code_bits - 1)))
                for i, code in enumerate(self._codes[o])
                if code & (K - 1) == k
            ]
            for o in range(config.n_out)
            for k in range(K)
        }
        plans = {}  # (o, k): (the pairs its first level adds, the leaves joining later)
        for g in range(groups):
            trees = [(o, k) for o in range(config.n_out) if group_of[o] == g for k in range(K)]
            planned = plan_first_level(
                [(leaves[t], *tree_shape(len(leaves[t]), depth)) for t in trees]
            )
            plans.update(zip(trees, planned, strict=True))
        pairs = [{} for _ in range(groups)]  # per group: (pair_key, its register)
        bins = [  # bins[o][k]: S[o,k]
            [
                self._bin_tree(
                    plans[o, k],
                    depth,
                    delayed,
                    lag[o],
                    group_of[o],
                    pairs[group_of[o]],
                    f"s{o}_{k}",
                )
                for k in range(K)
            ]
            for o in range(config.n_out)
        ]
        for level in range(depth):
            valid = self._valid(valid, f"tree{level}")

        # --- levels: products and their sum ---------------------------------------------------
        if config.datapath == "unrolled":
            products = [
                [
                    self._product(
                        s, copy.mantissas[k], copy.exponents[k], self._named(o, f"p{o}_{k}")
                    )
                    for k, s in enumerate(row)
                ]
                for o, (row, copy) in enumerate(zip(bins, output_copies, strict=True))
            ]
            for level in range(config.product_stages):
                valid = self._valid(valid, f"product{level}")
            sum_depth = max(K - 1, 0).bit_length()
            totals = [
                self._reduce(row, sum_depth, self._named(o, f"t{o}"))
                for o, row in enumerate(products)
            ]
            for level in range(sum_depth):
                valid = self._valid(valid, f"sum{level}")
        else:
            totals, valid = self._serial_levels(bins, copies, valid)

        # --- finish: + rounding (and the sign), + bias, >> S, saturate -------------------------
        biases = self._biases(m, lag)
        results = []
        for o, (total, copy) in enumerate(zip(totals, output_copies, strict=True)):
            if total.negated:  # rounding - t: the tree's subtrahend, negated here for free
                low_f0, high_f0 = -total.high, -total.low + (1 << config.max_shift)
                f0_value = copy.rounding - total.value
            else:
                low_f0, high_f0 = total.low, total.high + (1 << config.max_shift)
                f0_value = total.value + copy.rounding
            f0 = self._register(f0_value, low_f0, high_f0, self._named(o, f"f0_{o}"))
            bias_low = -(1 << max(config.bias_bits - 1, 0)) if config.bias_bits else 0
            bias_high = (1 << max(config.bias_bits - 1, 0)) - 1 if config.bias_bits else 0
            f1 = self._register(
                f0.value + biases[o],
                f0.low + bias_low,
                f0.high + bias_high,
                self._named(o, f"f1_{o}"),
            )
            # >> S in two stages, by its high bits' multiple of 8, then by its low 3 bits (each
            # a mux of at most 8 inputs); at least out_bits wide, for the saturation's test
            limit = 1 << (config.out_bits - 1)
            low_f2, high_f2 = min(f1.low, -limit), max(f1.high, limit - 1)
            coarse = copy.shift[SHIFT_STEP_BITS:]
            f2a = self._register(
                f1.value >> Cat(Const(0, SHIFT_STEP_BITS), coarse),
                low_f2,
                high_f2,
                self._named(o, f"f2a_{o}"),
            )
            f2b = self._register(
                f2a.value >> copy.shift[:SHIFT_STEP_BITS],
                low_f2,
                high_f2,
                self._named(o, f"f2b_{o}"),
            )
            results.append(saturate(f2b.value, config.out_bits, config.relu)[: config.out_bits])
        for name in ("f0", "f1", "f2a", "f2b"):
            valid = self._valid(valid, name)
        self._output_queue(m, results, lag, valid, places)

        m.d.sync += [register.eq(value) for register, value in self._stages]
        m.d.sync += drained.eq(~balanced_or([*self._in_flight, taken]))
        self._code_reader(m)
        return m

    # --- building blocks ----------------------------------------------------------------------

    def _output_queue(self, m: Module, results: list, lag: list[int], valid, places: int):
        """The results' queue in front of ``y``: one queue of ``places`` whole vectors
        (block RAM, ``output_queue``), read by ``y.ready`` alone.

        A group's results reach their register (``g<group>_out``) ``lag`` cycles after group
        0's (``lag[o]``, alike for the outputs o of a group); from there each group's slice
        travels down registers of its own (``out<group>_gather<step>``, not in the group's
        region: they take the route to the queue) so that every slice arrives in the same
        cycle, one after the most lagging group's, and the vector is written whole under one
        valid flag. The queue is ``Sliced``: a ``StreamFIFO`` per 32 bits, each with its own
        flags, so ``y.ready`` enables a few tens of flip-flops per copy.

        So the only nets that cross the die are from flip-flop to flip-flop (a group's
        slice on its way): the queue's read and ``y`` meet at the queue, placed freely near
        what it feeds; the credits are with the control (``control_...``). (A queue per
        group, all read when the last group's holds a vector, took ``y.ready`` across the
        die into every queue's fill logic: 11.0 ns, the floorplanned digits network's slowest
        path at 90.93 MHz.)

        ``y`` has no room to refuse: a vector is taken only with a credit."""
        config = self.config
        groups = config.unrolled_groups
        arrival = max(lag) + 1  # cycles after group 0's results register: every slice here
        slices = []
        for g in range(groups):
            outputs = [o for o in range(config.n_out) if self._group_of[o] == g]
            held = Signal(
                config.out_bits * len(outputs), name=group_name(g, "out"), reset_less=True
            )
            self._stages.append((held, Cat(results[o] for o in outputs)))
            for step in range(arrival - lag[outputs[0]]):
                held = self._copy(held, f"out{g}_gather{step}")
            slices.append(held)
        write = valid
        for step in range(arrival + 1):
            write = self._valid(write, f"out{step}")
        width = len(self.y.payload.as_value())
        queue = Sliced(
            width, VECTOR_SLICE_BITS, lambda bits: StreamFIFO(bits, places, block_ram=True)
        )
        m.submodules.output_queue = queue
        m.d.comb += [
            queue.w.payload.eq(Cat(slices)),
            queue.w.valid.eq(write),
            self.y.valid.eq(queue.r.valid),
            self.y.payload.eq(queue.r.payload),
            queue.r.ready.eq(self.y.ready),
        ]

    def _named(self, output: int, name: str) -> str:
        """``name`` for a register of ``output``'s, prefixed with its group (``g<group>_``)."""
        return group_name(self._group_of[output], name)

    def _register(self, value, low: int, high: int, name: str, negated: bool = False) -> Bound:
        """A stage register holding ``value`` (in [low, high]), as narrow as that range."""
        register = Signal(signed(signed_bits(low, high)), name=name, reset_less=True)
        self._stages.append((register, value))
        return Bound(register, low, high, negated)

    def _valid(self, valid, name: str):
        """The valid flag one stage on, noted as in flight (a commit waits for every one of
        them to clear, so a vector taken before the commit is computed wholly with the old
        registers)."""
        flag = Signal(name=control_name(f"valid_{name}"))
        self._stages.append((flag, valid))
        self._in_flight.append(flag)
        return flag

    def _bin_tree(
        self,
        plan: tuple[list, list],
        depth: int,
        delayed,
        lag: int,
        group: int,
        pairs: dict,
        name: str,
    ) -> Bound:
        """S = the sum of +-x[i] over a bin's leaves (input index, negated) as ``plan`` (from
        ``plan_first_level``) adds them, in registers of output group ``group``, ready
        ``depth`` levels after the input register reaches the tree ``lag`` cycles late: a
        tree of d = ceil(log2(count)) levels that starts at level depth - d
        (``tree_shape``). Its first level adds the plan's pairs (a pair already in
        ``pairs``, made for another tree of the group, is read from there); the plan's other
        leaves join the next level (from ``delayed(i, cycles)``, the input's delay line),
        which leaves a power of two of nodes, so no node is ever carried through a register
        alone."""
        first_pairs, later = plan
        if not first_pairs and not later:
            return ZERO
        start, _ = tree_shape(2 * len(first_pairs) + len(later), depth)

        def leaf(index: int, negated: bool, level: int) -> Bound:
            value = delayed(index, lag + level)
            return Bound(value.value, value.low, value.high, negated)

        if start == depth:  # a single leaf
            return leaf(*later[0], depth)
        nodes = [self._pair(a, b, lag + start, delayed, group, pairs) for a, b in first_pairs]
        nodes += [leaf(index, negated, start + 1) for index, negated in later]
        return self._reduce(nodes, depth - start - 1, group_name(group, name))

    def _pair(self, a, b, cycles: int, delayed, group: int, pairs: dict) -> Bound:
        """+-x[a] +- x[b] (leaves: input index, negated) from the inputs' delay line
        ``cycles`` down, a register later: x[a] + x[b] or x[a] - x[b] (a < b) made once per
        ``pair_key`` in ``pairs``, and read negated where the leaves say so."""
        (first, first_negated), (second, _) = sorted((a, b))
        key = pair_key(a, b, cycles)
        if key not in pairs:
            x, y = delayed(first, cycles), delayed(second, cycles)
            kind = "sub" if key[2] else "add"
            tag = group_name(group, f"x{first}_{kind}_x{second}_d{cycles}_{len(pairs)}")
            if key[2]:  # unlike signs: x[first] - x[second]
                pairs[key] = self._register(x.value - y.value, x.low - y.high, x.high - y.low, tag)
            else:
                pairs[key] = self._register(x.value + y.value, x.low + y.low, x.high + y.high, tag)
        node = pairs[key]
        return Bound(node.value, node.low, node.high, first_negated)

    def _pair_up(self, nodes: list[Bound], name: str) -> list[Bound]:
        """One registered level: ``nodes`` (an even count, like signs first) added in pairs;
        a pair of unlike signs is one subtraction."""
        paired = []
        for index in range(0, len(nodes), 2):
            a, b = nodes[index], nodes[index + 1]
            tag = f"{name}_{index // 2}"
            if a.negated == b.negated:
                total = a.value + b.value
                paired.append(self._register(total, a.low + b.low, a.high + b.high, tag, a.negated))
            else:
                plus, minus = (b, a) if a.negated else (a, b)
                low, high = plus.low - minus.high, plus.high - minus.low
                paired.append(self._register(plus.value - minus.value, low, high, tag))
        return paired

    def _reduce(self, nodes: list[Bound], depth: int, name: str) -> Bound:
        """The sum of ``nodes`` after exactly ``depth`` registered levels, a balanced tree of
        one adder or subtractor per node and level (a lone node is delayed)."""
        nodes = [node for node in nodes if not node.zero]
        if not nodes:
            return ZERO
        for level in range(depth):
            nodes.sort(key=lambda node: node.negated)  # like signs first
            lone = []
            if len(nodes) % 2:  # carried through a register of its own
                node = nodes.pop()
                lone = [self._register(node.value, node.low, node.high, f"{name}_l{level}_c",
                                       node.negated)]  # fmt: skip
            nodes = self._pair_up(nodes, f"{name}_l{level}") + lone
        if len(nodes) != 1:
            raise AssertionError(f"{name}: {len(nodes)} nodes left after {depth} levels")
        return nodes[0]

    def _product(self, s: Bound, mantissa, exponent, name: str) -> Bound:
        """s * (mantissa << exponent) after ``config.product_stages`` registered levels, the
        sign flag carried; a zero ``s`` stays a constant. ``mantissa`` is read with ``s``,
        ``exponent`` (``None`` without exponent bits) by the last level,
        ``config.product_stages - 1`` cycles later."""
        config = self.config
        if s.zero:
            return ZERO
        fmt_max_mantissa = (1 << config.mantissa_bits) - 1
        if config.mantissa_bits == 1:  # powers of two: a shifter
            shifted = s.value if exponent is None else s.value << exponent
            scale = config.max_level
            low, high = min(s.low * scale, 0), max(s.high * scale, 0)
            return self._register(Mux(mantissa, shifted, 0), low, high, name, s.negated)
        rows = [
            Bound(
                Mux(mantissa[bit], s.value << bit, 0), min(s.low << bit, 0), max(s.high << bit, 0)
            )
            for bit in range(config.mantissa_bits)
        ]
        partial = self._reduce(rows, max(config.mantissa_bits - 1, 0).bit_length(), f"{name}_m")
        assert (partial.low, partial.high) == (
            min(s.low * fmt_max_mantissa, 0),
            max(s.high * fmt_max_mantissa, 0),
        )
        if exponent is None:
            return self._register(partial.value, partial.low, partial.high, name, s.negated)
        scale = 1 << ((1 << config.exponent_bits) - 1)
        return self._register(
            partial.value << exponent, partial.low * scale, partial.high * scale, name, s.negated
        )

    def _serial_levels(self, bins, copies, valid):
        """``unrolled_serial``: the K products of each output made one a cycle, bin j in the
        j-th cycle after its sums arrive (they stay at the trees' roots until the next vector,
        K cycles later), through one multiplier per output, and accumulated.

        Returns (totals, valid) after the accumulator."""
        config = self.config
        K = config.codebook_size
        j = Signal(range(K))  # the bin the select stage takes, after the first
        counting = Signal()  # bins 1 .. K-1 still to select
        self._stages += [
            (j, Mux(valid, 1 % K, Mux(j == K - 1, 0, j + 1))),
            (counting, Mux(valid, K > 1, counting & (j != K - 1))),
        ]
        index = Mux(valid, 0, j)
        self._in_flight.append(counting)
        select_valid = self._valid(valid | counting, "select")
        first = self._valid(valid, "first")
        last = self._valid(Mux(valid, K == 1, counting & (j == K - 1)), "last")
        chosen = []  # per copy: the level of the bin selected (mantissa, exponent)
        for g, copy in enumerate(copies):
            chosen_m = Signal(config.mantissa_bits, name=group_name(g, "level_m"), reset_less=True)
            self._stages.append((chosen_m, Array(copy.mantissas)[index]))
            chosen_e = None
            if config.exponent_bits:  # used by the product's last stage: delayed to it
                chosen_e = Array(copy.exponents)[index]
                for level in range(config.product_stages):
                    delayed = Signal(
                        config.exponent_bits, name=group_name(g, f"level_e{level}"), reset_less=True
                    )
                    self._stages.append((delayed, chosen_e))
                    chosen_e = delayed
            chosen.append((chosen_m, chosen_e))
        stages = config.product_stages
        pending = []  # (accumulator, its next value's term)
        totals = []
        for o, row in enumerate(bins):
            live = [s for s in row if not s.zero]
            if not live:
                totals.append(ZERO)
                continue
            selected = self._register(
                Array(s.value for s in row)[index],
                min(s.low for s in live),
                max(s.high for s in live),
                self._named(o, f"sel{o}"),
            )
            flip = self._register(
                Array(Const(int(s.negated)) for s in row)[index], 0, 1, self._named(o, f"neg{o}")
            )
            product = self._product(selected, *chosen[self._group_of[o]], self._named(o, f"p{o}"))
            for level in range(stages):
                flip = self._register(flip.value, 0, 1, self._named(o, f"neg{o}_{level}"))
            # +-product as (product XOR flip) + flip; the sum of K of them in any order
            bound = K * max(-product.low, product.high)
            acc = Signal(
                signed(signed_bits(-bound, bound)), name=self._named(o, f"acc{o}"), reset_less=True
            )
            negate = flip.value[0].replicate(len(product.value))
            pending.append(
                (acc, (product.value.as_unsigned() ^ negate).as_signed() + flip.value[0])
            )
            totals.append(Bound(acc, -bound, bound))
        for level in range(stages):
            select_valid = self._valid(select_valid, f"product{level}")
            first = self._valid(first, f"first{level}")
            last = self._valid(last, f"last{level}")
        for acc, term in pending:
            self._stages.append((acc, Mux(select_valid, Mux(first, term, acc + term), acc)))
        done = self._valid(select_valid & last, "accumulated")
        return totals, done

    def _register_copies(self, active: ActiveRegisters, groups: int) -> list[ActiveRegisters]:
        """The active registers as read by each group of outputs (more
        than one group): group g reads a copy g + 1 cycles behind them, each copy loaded from
        the one before. A chain, because Yosys merges registers loaded from one value into
        one, and one register read by every output is the long, slow net the copies avoid."""
        copies, before = [], active
        for g in range(groups):
            copies.append(
                ActiveRegisters(
                    [
                        self._copy(v, group_name(g, f"level{k}_m"))
                        for k, v in enumerate(before.mantissas)
                    ],
                    [
                        self._copy(v, group_name(g, f"level{k}_e"))
                        for k, v in enumerate(before.exponents)
                    ],
                    self._copy(before.shift, group_name(g, "shift")),
                    self._copy(before.rounding, group_name(g, "rounding")),
                )
            )
            before = copies[-1]
        return copies

    def _copy(self, value: Signal | None, name: str) -> Signal | None:
        """``value`` a cycle later, in a stage register named ``name`` (``None`` stays)."""
        if value is None:
            return None
        register = Signal.like(value, name=name, reset_less=True)
        self._stages.append((register, value))
        return register

    def _active_levels(self, m: Module, apply_commit):
        """The K level registers the products use, loaded from the staged ones on commit:
        (mantissas, exponents), exponents ``None`` each without ``exponent_bits``."""
        config = self.config
        mantissas, exponents = [], []
        for k, (mantissa, exponent) in enumerate(self._codebook_init):
            active_m = Signal(config.mantissa_bits, init=mantissa, name=f"level{k}_m")
            with m.If(apply_commit):
                m.d.sync += active_m.eq(self.mantissas[k])
            mantissas.append(active_m)
            if config.exponent_bits:
                active_e = Signal(config.exponent_bits, init=exponent, name=f"level{k}_e")
                with m.If(apply_commit):
                    m.d.sync += active_e.eq(self.exponents[k])
                exponents.append(active_e)
            else:
                exponents.append(None)
        return mantissas, exponents

    def _biases(self, m: Module, lag: list[int]) -> list:
        """One register per output's bias, written through ``bias_mem`` (a registered
        decoder); a memory beside them answers the port's reads, so reading needs no n_out:1
        select. A write reaches output o's register 1 + ``lag[o]`` cycles after the port
        takes it, as output o reads its bias ``lag[o]`` cycles after output 0 does: the
        word passes from group to group down a chain of copies (one word register read by
        every output was a long net to all of them)."""
        config = self.config
        if not config.bias_bits:
            return [Const(0, signed(1))] * config.n_out
        access = self.bias_mem
        m.submodules.bias_copy = copy = Memory(
            shape=unsigned(config.bias_bits), depth=config.n_out, init=self._bias_init
        )
        write, read = copy.write_port(), copy.read_port()
        m.d.comb += [
            write.addr.eq(access.addr),
            write.data.eq(access.w_data),
            write.en.eq(access.w_en),
            read.addr.eq(access.addr),
            access.r_data.eq(read.data),
        ]
        # A write lands from flip-flops: a strobe per output and the word, so no address
        # decode sits ahead of the routes to the outputs' registers.
        words = [Signal(signed(config.bias_bits), name="bias_word", reset_less=True)]
        m.d.sync += words[0].eq(access.w_data)
        for step in range(1, max(lag) + 1):
            words.append(self._copy(words[-1], group_name(step, "bias_word")))
        biases = []
        for o, init in enumerate(unpack_bias_rows(config, self._bias_init).tolist()):
            load = Signal(name=f"bias{o}_load")
            m.d.sync += load.eq(access.w_en & (access.addr == o))
            for step in range(1, lag[o] + 1):  # beside the word's copy of this step
                later = Signal(name=group_name(step, f"bias{o}_load"))
                m.d.sync += later.eq(load)
                load = later
            word = words[lag[o]]
            bias = Signal(signed(config.bias_bits), init=init, name=self._named(o, f"bias{o}"))
            with m.If(load):
                m.d.sync += bias.eq(word)
            biases.append(bias)
        return biases

    def _code_reader(self, m: Module) -> None:
        """The baked codes, readable on ``code_mem`` two cycles after ``r_en`` (a ROM of
        one code a word, at the port's address of it)."""
        config = self.config
        register_map = RegisterMap.of(config)
        base = register_map.region("codes").base
        words = [0] * code_words(config)
        for (output, index), code in np.ndenumerate(self._codes):
            words[register_map.code_address(output, index) - base] = int(code)
        m.submodules.codes = rom = Memory(
            shape=unsigned(config.code_bits), depth=len(words), init=words, attrs=IN_BLOCK_RAM
        )
        read = rom.read_port()
        row = Signal.like(read.data, reset_less=True)
        m.d.comb += read.addr.eq(self.code_mem.addr)
        m.d.sync += row.eq(read.data)
        m.d.comb += self.code_mem.r_data.eq(row)


Leaf = tuple[int, bool]  # a connection in a bin tree: input index, negated


def tree_shape(count: int, depth: int) -> tuple[int, int]:
    """A bin tree of ``count`` leaves among trees ``depth`` levels deep: the level its first
    adders start at (``depth`` for a single leaf), and how many pairs that level adds
    (count - 2^(d-1) for a tree of d = ceil(log2(count)) levels), so that a power of two of
    nodes goes on."""
    levels = max(count - 1, 0).bit_length()
    if levels == 0:
        return depth, 0
    return depth - levels, count - (1 << (levels - 1))


def pair_key(a: Leaf, b: Leaf, cycles: int) -> tuple[int, int, bool, int]:
    """What two leaves added ``cycles`` down the delay line make, up to its sign: (lower
    input, higher input, unlike signs, cycles)."""
    (first, first_negated), (second, second_negated) = sorted((a, b))
    return first, second, first_negated != second_negated, cycles


def plan_first_level(trees: list[tuple[list[Leaf], int, int]]) -> list[tuple[list, list]]:
    """Which leaves each bin tree of one group of outputs adds in pairs at its first level.

    ``trees``: each tree's leaves, the level it starts at and the pairs that level adds
    (``tree_shape``). A pair that several trees starting at one level add is one adder
    (``pair_key``), so pairs are chosen greedily, the one the most trees still could share
    first (ties: the first found); each tree's remaining pairs are its free leaves in
    order, like signs first. Returns per tree (its pairs, the leaves that join later)."""
    free = [sorted(leaves, key=lambda leaf: leaf[1]) for leaves, _, _ in trees]
    wanted = [pairs for _, _, pairs in trees]
    chosen: list[list] = [[] for _ in trees]
    sharers: dict[tuple, set[int]] = {}  # pair_key: the trees that could still add it

    def note(tree: int, add: bool) -> None:
        if not wanted[tree]:
            return
        for a, b in itertools.combinations(free[tree], 2):
            found = sharers.setdefault(pair_key(a, b, trees[tree][1]), set())
            found.add(tree) if add else found.discard(tree)

    for tree in range(len(trees)):
        note(tree, True)
    while sharers:
        key, found = max(sharers.items(), key=lambda item: len(item[1]))
        if len(found) < 2:
            break
        for tree in sorted(found):
            note(tree, False)
            pair = [leaf for leaf in free[tree] if leaf[0] in key[:2]]
            chosen[tree].append(tuple(pair))
            free[tree] = [leaf for leaf in free[tree] if leaf not in pair]
            wanted[tree] -= 1
            note(tree, True)
        sharers = {key: found for key, found in sharers.items() if found}
    plans = []
    for tree, leaves in enumerate(free):
        count = 2 * wanted[tree]
        pairs = chosen[tree] + [tuple(leaves[i : i + 2]) for i in range(0, count, 2)]
        plans.append((pairs, leaves[count:]))
    return plans


def code_words(config: LayerConfig) -> int:
    """Words of an unrolled core's code ROM: the configuration port's code region, one code
    a word (``RegisterMap``: row * lanes_p2 + lane)."""
    return config.code_rows * RegisterMap.of(config).lanes_p2


def queue_depth(latency_cycles: int, cycles_per_vector: int) -> int:
    """Vectors the output queue holds: a vector keeps its credit from the cycle it is taken
    to the cycle its results leave (``latency_cycles`` + 1 cycles), so one vector every
    ``cycles_per_vector`` cycles needs that many over the period, rounded up."""
    return max(MIN_QUEUE, -(-(latency_cycles + 1) // cycles_per_vector))


def tree_depth(codes: np.ndarray, codebook_size: int) -> int:
    """Levels of the per-bin adder trees: ceil(log2) of the most connections one output
    has in one bin."""
    bins = np.asarray(codes) & (codebook_size - 1)
    largest = max((int(np.bincount(row, minlength=codebook_size).max()) for row in bins), default=0)
    return max(largest - 1, 0).bit_length()
