# amaranth: UnusedElaboratable=no
# (core_latency builds a datapath only for its latency figure)
"""The unrolled cores and the vector-stream adapters in the Amaranth simulator, judged bit for
bit by the numpy reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from jaynes_hw.contract.codebook import Codebook, LevelFormat
from jaynes_hw.contract.layer_config import LayerConfig, network_vector_period
from jaynes_hw.contract.registers import REG_CONTROL, REG_SHIFT, LayerDriver, RegisterMap
from jaynes_hw.gateware.core import LayerCore
from jaynes_hw.gateware.network import Network
from jaynes_hw.gateware.unrolled import pair_key, plan_first_level, tree_shape
from jaynes_hw.gateware.vector_stream import VectorCollector, VectorSerializer
from jaynes_hw.support.errors import UserError
from tests.gateware.test_cores import stream_through
from tests.helpers.amaranth_harness import BusMaster, receive, run, send
from tests.helpers.layer_cases import (
    LayerCase,
    build_core,
    random_case,
    random_codebook,
    useful_shift,
)

UNROLLED = ("unrolled", "unrolled_serial")


def pack(values, bits: int) -> int:
    """A vector as its stream payload: element i in bits [i*bits, (i+1)*bits)."""
    word = 0
    for index, value in enumerate(values):
        word |= (int(value) & ((1 << bits) - 1)) << (index * bits)
    return word


def unpack(word: int, bits: int, length: int) -> list[int]:
    fields = [(int(word) >> (index * bits)) & ((1 << bits) - 1) for index in range(length)]
    return [field - (1 << bits) if field >> (bits - 1) else field for field in fields]


async def send_vectors(ctx, port, vectors, bits, rng=None, stall=0.0, log=None):
    """Drive whole vectors into a vector stream, idling at random; ``log`` gets the cycle
    of each transfer."""
    cycle = 0
    for vector in vectors:
        while rng is not None and rng.random() < stall:
            ctx.set(port.valid, 0)
            await ctx.tick()
            cycle += 1
        ctx.set(port.valid, 1)
        ctx.set(port.payload.as_value(), pack(vector, bits))
        while True:
            _, _, ready = await ctx.tick().sample(port.ready)
            cycle += 1
            if ready:
                break
        if log is not None:
            log.append(cycle)
    ctx.set(port.valid, 0)


async def receive_vectors(ctx, port, count, bits, length, rng=None, stall=0.0, log=None):
    received, cycle = [], 0
    while len(received) < count:
        ready = rng is None or rng.random() >= stall
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload.as_value())
        cycle += 1
        if ready and valid:
            received.append(unpack(payload, bits, length))
            if log is not None:
                log.append(cycle)
    ctx.set(port.ready, 0)
    return received


def vectors_through(core, x, rng=None, stall=0.0, host=None):
    """The vectors ``x`` through a core (or network) with vector ports, random stalls on
    both streams; ``host`` is a further testbench (the bus)."""
    first = core.layers[0].config if isinstance(core, Network) else core.config
    last = core.layers[-1].config if isinstance(core, Network) else core.config
    got = []

    async def producer(ctx):
        await send_vectors(ctx, core.x, x, first.act_bits, rng, stall)

    async def consumer(ctx):
        got.extend(
            await receive_vectors(ctx, core.y, len(x), last.out_bits, last.n_out, rng, stall)
        )

    run(core, producer, consumer, *([host] if host else []))
    return np.array(got, dtype=np.int64).reshape(len(x), last.n_out)


def unrolled_case(rng, datapath: str, scheme: str | None = None) -> LayerCase:
    """A random lognormal layer (any scheme unless ``scheme``), unrolled."""
    while True:
        case = random_case(rng, "lognormal", "per_lane")
        if scheme is None or case.codebook.scheme == scheme:
            break
    # channel scales are a folded core's: an unrolled one has none
    case.config = replace(case.config, datapath=datapath, scale_bits=0)
    case.scales = None
    case.shift = useful_shift(case, rng)
    return case


def widened(case: LayerCase, rng, n_out: int) -> LayerCase:
    """``case`` with ``n_out`` outputs (fresh codes and biases, one lane): from
    ``UNROLLED_SKEW_MIN_GROUPS`` groups of outputs an ``unrolled`` core runs them skewed, each
    group's results written to its own queue a cycle after the group before."""
    config = case.config = replace(case.config, n_out=n_out, lanes=1)
    case.stored = rng.integers(0, 1 << config.code_bits, size=(n_out, config.n_in))
    if config.bias_bits:
        half = 1 << (config.bias_bits - 1)
        case.bias = rng.integers(-half, half, size=n_out)
    case.shift = useful_shift(case, rng)
    return case


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("datapath", UNROLLED)
def test_random_unrolled_layer_matches_reference_under_stalls(datapath, seed):
    rng = np.random.default_rng(seed)
    case = unrolled_case(rng, datapath)
    x = case.random_inputs(rng, 8)
    got = vectors_through(build_core(case), x, rng, float(rng.choice([0.0, 0.3, 0.6])))
    np.testing.assert_array_equal(got, case.expected(x))


@pytest.mark.parametrize("seed", range(4))
def test_skewed_groups_match_reference_under_stalls(seed):
    """13 to 24 outputs: 4 to 6 groups, each a cycle behind the one before, each writing
    its results to its own queue when they are ready; every vector still leaves whole."""
    rng = np.random.default_rng(100 + seed)
    case = widened(unrolled_case(rng, "unrolled"), rng, int(rng.integers(13, 25)))
    assert case.config.unrolled_skew >= 3
    x = case.random_inputs(rng, 24)
    got = vectors_through(build_core(case), x, rng, float(rng.choice([0.3, 0.6])))
    np.testing.assert_array_equal(got, case.expected(x))


@pytest.mark.parametrize("datapath", UNROLLED)
@pytest.mark.parametrize("scheme", ["lognormal", "pow2", "lns", "int"])
def test_every_scheme_unrolled(scheme, datapath):
    rng = np.random.default_rng(7)
    case = unrolled_case(rng, datapath, scheme)
    x = case.random_inputs(rng, 6)
    np.testing.assert_array_equal(vectors_through(build_core(case), x, rng, 0.2), case.expected(x))


@pytest.mark.parametrize("datapath", UNROLLED)
@pytest.mark.parametrize("fmt", [LevelFormat(6, 3), LevelFormat(1, 3), LevelFormat(8, 0)])
@pytest.mark.parametrize("relu", [False, True])
def test_unrolled_extremes_are_exact(fmt, datapath, relu):
    """Every connection of an output in one bin at the largest level, all negative (one
    adder tree as deep and wide as it gets), inputs at both ends, every shift."""
    n_in, n_out = 13, 3
    config = LayerConfig(
        "lognormal", n_in, n_out, 1, 8, 8, 4, fmt.mantissa_bits, fmt.exponent_bits, 8, relu,
        datapath,
    )  # fmt: skip
    codebook = Codebook(
        "lognormal", 4, fmt, np.full(8, fmt.max_mantissa), np.full(8, fmt.max_exponent), 1.0
    )
    stored = np.full((n_out, n_in), 0b1111)
    stored[1] = 0b0111  # all positive
    stored[2, ::2] = 0b0111  # mixed signs
    x = np.array([[-128] * n_in, [127] * n_in, [-128, 127] * 6 + [0], [1] * n_in])
    for shift in (0, 1, 7, 13, config.max_shift):
        for bias in (127, -128):
            case = LayerCase(config, stored, codebook, shift, np.full(n_out, bias))
            np.testing.assert_array_equal(vectors_through(build_core(case), x), case.expected(x))


@pytest.mark.parametrize("datapath", UNROLLED)
def test_pairs_shared_between_outputs_are_exact(datapath):
    """Outputs whose bins hold the same pairs of inputs, with every sign pattern (so one
    adder's register is read as it is and negated, an unlike pair both ways), exact
    against the reference at extreme and random inputs; 8 outputs: two groups."""
    rng = np.random.default_rng(3)
    n_in, n_out, K = 12, 8, 4
    codebook = random_codebook(rng, "pow2", 3)
    fmt = codebook.format
    config = LayerConfig(
        "lognormal", n_in, n_out, 1, 8, 8, 3, fmt.mantissa_bits, fmt.exponent_bits, 10, False,
        datapath,
    )  # fmt: skip
    base = rng.integers(0, K, n_in)
    signs = np.array([[0] * n_in, [1] * n_in, [0, 1] * 6, [1, 0] * 6])
    stored = np.vstack([base | signs[o % 4] << 2 for o in range(n_out)])
    stored[5:] = stored[5:, ::-1]  # the second group's pairs on other inputs
    case = LayerCase(config, stored, codebook, 4, rng.integers(-50, 50, n_out))
    x = np.vstack([np.full(n_in, -128), np.full(n_in, 127), rng.integers(-128, 128, (6, n_in))])
    np.testing.assert_array_equal(vectors_through(build_core(case), x, rng, 0.3), case.expected(x))


@pytest.mark.parametrize("seed", range(4))
def test_first_level_plan_partitions_every_tree_and_shares_repeated_pairs(seed):
    """Each tree adds exactly the pairs its shape asks for, every leaf once (in a pair or
    later); a tree repeated, once with every sign flipped, adds no new pair."""
    rng = np.random.default_rng(seed)
    depth, trees = 4, []
    for _ in range(6):
        count = int(rng.integers(1, 1 << depth))
        inputs = rng.choice(40, count, replace=False)
        leaves = [(int(i), bool(rng.integers(2))) for i in inputs]
        trees.append((leaves, *tree_shape(count, depth)))
    repeated, start, pairs = trees[0]
    flipped = [(index, not negated) for index, negated in repeated]
    trees += [(repeated, start, pairs), (flipped, start, pairs)]
    plans = plan_first_level(trees)
    for (leaves, start, wanted), (paired, later) in zip(trees, plans, strict=True):
        assert len(paired) == wanted
        used = [leaf for pair in paired for leaf in pair] + list(later)
        assert sorted(used) == sorted(leaves)
        if start == depth:
            assert paired == [] and len(later) == 1
    keys = [{pair_key(a, b, trees[t][1]) for a, b in plans[t][0]} for t in range(len(trees))]
    assert keys[-1] == keys[-2] == keys[0]


@pytest.mark.parametrize("datapath", UNROLLED)
def test_full_rate_and_latency(datapath):
    """Back to back with y always ready: a vector taken every ``cycles_per_vector`` cycles,
    its results ``latency_cycles`` later, within the config's bound. More vectors than the
    output queue holds: the credits must come back in time for the rate to hold."""
    rng = np.random.default_rng(3)
    case = unrolled_case(rng, datapath, "lognormal")
    core = build_core(case)
    x = case.random_inputs(rng, 2 * case.config.latency_cycles + 12)
    sent, got_at, got = [], [], []

    async def producer(ctx):
        await send_vectors(ctx, core.x, x, case.config.act_bits, log=sent)

    async def consumer(ctx):
        got.extend(
            await receive_vectors(
                ctx, core.y, len(x), case.config.out_bits, case.config.n_out, log=got_at
            )
        )

    run(core, producer, consumer)
    np.testing.assert_array_equal(np.array(got), case.expected(x))
    assert set(np.diff(sent)) == {case.config.cycles_per_vector}
    assert set(np.diff(got_at)) == {case.config.cycles_per_vector}
    # both logs count the clock edges of their own testbench from the same start
    latencies = set(np.array(got_at) - np.array(sent))
    datapath_latency = core_latency(core)
    assert latencies == {datapath_latency}
    assert datapath_latency <= case.config.latency_cycles


def core_latency(core) -> int:
    """The unrolled datapath's own latency figure (elaborating the core builds it)."""
    from jaynes_hw.gateware.unrolled import UnrolledDatapath, tree_depth

    datapath = UnrolledDatapath(
        core.config, core.stored_words, [], [(1, 0)] * core.config.codebook_size, 0
    )
    assert datapath.latency_cycles == core.config.unrolled_latency(
        tree_depth(core.stored_words, core.config.codebook_size)
    )
    return datapath.latency_cycles


@pytest.mark.parametrize(("datapath", "n_out"), [("unrolled", None), ("unrolled", 17),
                                                 ("unrolled_serial", None)])  # fmt: skip
def test_a_long_stall_on_y_fills_the_queue_and_loses_nothing(datapath, n_out):
    """``y`` held back far longer than the output queue lasts while vectors keep coming:
    ``x`` stops once every place is reserved (no more vectors taken than the queue holds),
    then, ``y`` released, every result arrives, exact and in order. 17 outputs: the first
    groups' queues fill while the last group's results are still on their way."""
    from jaynes_hw.gateware.unrolled import queue_depth

    rng = np.random.default_rng(21)
    case = unrolled_case(rng, datapath)
    if n_out:
        case = widened(case, rng, n_out)
    core = build_core(case)
    places = queue_depth(core_latency(core), case.config.cycles_per_vector)
    x = case.random_inputs(rng, 2 * places + 3)
    held = 4 * places * case.config.cycles_per_vector + 50  # cycles y stays back
    sent, got = [], []

    async def producer(ctx):
        await send_vectors(ctx, core.x, x, case.config.act_bits, log=sent)

    async def consumer(ctx):
        ctx.set(core.y.ready, 0)
        await ctx.tick().repeat(held)
        got.extend(
            await receive_vectors(ctx, core.y, len(x), case.config.out_bits, case.config.n_out)
        )

    run(core, producer, consumer)
    assert sum(cycle <= held for cycle in sent) == places
    np.testing.assert_array_equal(np.array(got), case.expected(x))


def test_x_is_ready_exactly_when_a_place_is_free():
    """``x`` valid in 80 % of cycles, ``y`` taking results in 10 % to 95 %: every
    cycle after the registers' copies have loaded, ``x.ready`` is high exactly when the
    output queue has a place not yet reserved (places less vectors taken plus results
    returned, counted from outside), so the core never takes a vector without room and
    never refuses one it has room for."""
    from jaynes_hw.gateware.unrolled import queue_depth

    rng = np.random.default_rng(23)
    case = unrolled_case(rng, "unrolled")
    core = build_core(case)
    places = queue_depth(core_latency(core), case.config.cycles_per_vector)
    loaded = case.config.unrolled_groups + 1  # cycles after reset until x may be ready
    rates = np.repeat([0.5, 0.95, 0.1, 0.7, 0.3], 150)
    seen = set()

    async def testbench(ctx):
        credits = places
        for cycle, rate in enumerate(rates):
            ctx.set(core.x.valid, int(rng.random() < 0.8))
            ctx.set(core.y.ready, int(rng.random() < rate))
            _, _, valid, ready, y_valid, y_ready = await ctx.tick().sample(
                core.x.valid, core.x.ready, core.y.valid, core.y.ready
            )
            assert credits > 0 or not ready, cycle  # never a vector without a place
            if cycle >= loaded:
                assert ready == (credits > 0), (cycle, credits)
                seen.add(credits)
            credits += int(y_valid and y_ready) - int(valid and ready)

    run(core, testbench)
    # every count of free places below all was met (all: only before the first vector)
    assert seen >= set(range(places)), (sorted(seen), places)


@pytest.mark.parametrize("stall", [0.0, 0.5])
@pytest.mark.parametrize(("datapath", "n_in"), [("unrolled", 3), ("unrolled", 12),
                                                ("unrolled_serial", 12)])  # fmt: skip
def test_retune_mid_stream_lands_on_a_vector_boundary(datapath, n_in, stall):
    """Vectors stream back to back while the host writes a new codebook and shift and
    commits: every result vector is wholly the old or wholly the new layer's, old ones
    first, both seen; no rebuild, no code written. 13 outputs read four copies of the
    registers, the last three cycles behind; 3 inputs make trees too shallow to hide that."""
    rng = np.random.default_rng(11)
    case = unrolled_case(rng, datapath, "lognormal")
    case.config = replace(case.config, n_in=n_in, n_out=13, lanes=1, bias_bits=0)
    case.stored = rng.integers(0, 1 << case.config.code_bits, size=(13, n_in))
    case.bias = None
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    fmt = case.codebook.format
    new = Codebook(
        "lognormal", case.codebook.bits, fmt, case.codebook.mantissas[::-1].copy(),
        case.codebook.exponents[::-1].copy(), 1.0,
    )  # fmt: skip
    new_shift = max(case.shift - 1, 0)
    x = case.random_inputs(rng, 400 if stall == 0 else 120)  # the bus writes take ~130 cycles
    old_expected, new_expected = case.expected(x), case.expected(x, codebook=new, shift=new_shift)
    assert not np.array_equal(old_expected, new_expected)
    bus = BusMaster(core.bus)

    async def host(ctx):
        for _ in range(40):
            await ctx.tick()
        await bus.play(ctx, driver.codebook_writes(new) + driver.shift_writes(new_shift))
        await bus.play(ctx, driver.commit_writes())

    got = vectors_through(core, x, rng, stall, host=host)
    old = [np.array_equal(g, e) for g, e in zip(got, old_expected, strict=True)]
    fresh = [np.array_equal(g, e) for g, e in zip(got, new_expected, strict=True)]
    assert all(o or f for o, f in zip(old, fresh, strict=True)), "a vector mixed old and new"
    switch = next(index for index, f in enumerate(fresh) if f and not old[index])
    assert all(old[:switch]) and all(fresh[switch:]), "old and new results interleaved"
    assert 0 < switch < len(x)


def test_codes_read_back_and_are_not_writable():
    """The code region reads the baked codes; a write changes nothing; the driver refuses
    to write codes and the register map says the core is unrolled."""
    rng = np.random.default_rng(5)
    case = unrolled_case(rng, "unrolled", "lognormal")
    core = build_core(case)
    register_map = RegisterMap.of(case.config)
    driver = LayerDriver(register_map)
    with pytest.raises(UserError, match="baked into its logic"):
        driver.code_writes(case.stored)
    config = case.config
    assert register_map.constant_registers()[3] >> 26 & 1 == 1
    assert config.lanes == config.n_out and not config.codes_writable
    bus = BusMaster(core.bus)
    read = {}

    async def host(ctx):
        for o in range(config.n_out):
            for i in range(config.n_in):
                address = register_map.code_address(o, i)
                before = await bus.read(ctx, address)
                await bus.write(ctx, address, before ^ 1)
                read[o, i] = (before, await bus.read(ctx, address))
        await bus.write(ctx, REG_SHIFT, case.shift)
        read["shift"] = await bus.read(ctx, REG_SHIFT)
        read["status"] = await bus.read(ctx, REG_CONTROL)

    run(core, host)
    for o in range(config.n_out):
        for i in range(config.n_in):
            assert read[o, i] == (int(case.stored[o, i]),) * 2
    assert read["shift"] == case.shift and read["status"] == 0
    # the codes stay as baked: the outputs are still the reference's
    x = case.random_inputs(rng, 3)
    np.testing.assert_array_equal(vectors_through(build_core(case), x), case.expected(x))


@pytest.mark.parametrize(("datapath", "n_out"), [("unrolled_serial", None), ("unrolled", 32)])
def test_bias_writes_take_effect_and_read_back(datapath, n_out):
    """Biases written through the port read back, and every vector sent from the cycle
    after the last write's ack is the reference's with the new biases. 32 outputs: 8
    groups, skewed, group g taking a write g cycles after group 0, the word passed down a
    chain of copies (writes come faster than the 7 cycles of the last group's lag)."""
    rng = np.random.default_rng(9)
    case = unrolled_case(rng, datapath, "pow2")
    case.config = replace(case.config, bias_bits=10)
    if n_out is not None:
        case = widened(case, rng, n_out)
    case.bias = rng.integers(-512, 512, size=case.config.n_out)
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    new_bias = rng.integers(-512, 512, size=case.config.n_out)
    x = case.random_inputs(rng, 12)
    expected = case.expected(x, bias=new_bias)
    assert not np.array_equal(expected, case.expected(x))
    bus = BusMaster(core.bus)
    written, words, got = [], [], []

    async def host(ctx):
        await bus.play(ctx, driver.bias_writes(new_bias))
        written.append(True)
        for o in range(case.config.n_out):
            words.append(await bus.read(ctx, core.register_map.bias_address(o)))

    async def producer(ctx):
        while not written:
            await ctx.tick()
        await send_vectors(ctx, core.x, x, case.config.act_bits, None, 0.0)

    async def consumer(ctx):
        got.extend(
            await receive_vectors(ctx, core.y, len(x), case.config.out_bits, case.config.n_out)
        )

    run(core, host, producer, consumer)
    assert [LayerDriver.decode_signed(word) for word in words] == new_bias.tolist()
    np.testing.assert_array_equal(np.array(got).reshape(expected.shape), expected)


@pytest.mark.parametrize("length", [1, 2, 5])
def test_adapters_keep_order_under_stalls(length):
    """Element stream -> collector -> serializer -> element stream: every value once, in
    order, with random stalls on both ends."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    rng = np.random.default_rng(length)
    collector, serializer = VectorCollector(6, length), VectorSerializer(6, length)

    class Chain(wiring.Component):
        def __init__(self):
            super().__init__({"x": wiring.In(collector.x.signature.flip()),
                              "y": wiring.Out(serializer.y.signature)})  # fmt: skip

        def elaborate(self, platform):
            m = Module()
            m.submodules.collector, m.submodules.serializer = collector, serializer
            wiring.connect(m, wiring.flipped(self.x), collector.x)
            wiring.connect(m, collector.y, serializer.x)
            wiring.connect(m, serializer.y, wiring.flipped(self.y))
            return m

    chain = Chain()
    values = rng.integers(-32, 32, size=length * 9)
    got = []

    async def producer(ctx):
        await send(ctx, chain.x, values, rng, 0.4)

    async def consumer(ctx):
        got.extend(await receive(ctx, chain.y, len(values), rng, 0.4))

    run(chain, producer, consumer)
    assert got == values.tolist()


def test_adapters_run_at_a_value_a_cycle():
    """Both adapters back to back with both ends always ready: one value a cycle."""
    collector = VectorCollector(8, 4)
    values = list(range(-20, 20))
    got_at, got = [], []

    async def producer(ctx):
        await send(ctx, collector.x, values)

    async def consumer(ctx):
        got.extend(await receive_vectors(ctx, collector.y, 10, 8, 4, log=got_at))

    run(collector, producer, consumer)
    assert got == [values[i : i + 4] for i in range(0, 40, 4)]
    assert set(np.diff(got_at)) == {4}


def mixed_cases(rng):
    """Four layers: unrolled -> unrolled_serial (vectors straight on) -> folded (through a
    serializer) -> unrolled (through a collector)."""
    shapes = [(7, 6), (6, 5), (5, 4), (4, 3)]
    datapaths = ["unrolled", "unrolled_serial", "shared", "unrolled"]
    cases = []
    for (n_in, n_out), datapath in zip(shapes, datapaths, strict=True):
        codebook = random_codebook(rng, "lognormal", 4)
        fmt = codebook.format
        config = LayerConfig(
            "lognormal", n_in, n_out, 2, 8, 8, 4, fmt.mantissa_bits, fmt.exponent_bits, 12,
            True, datapath,
        )  # fmt: skip
        stored = rng.integers(0, 16, size=(n_out, n_in))
        bias = rng.integers(-2048, 2048, size=n_out)
        cases.append(LayerCase(config, stored, codebook, 6, bias))
    return cases


def chained(cases, x):
    for case in cases:
        x = case.expected(x)
    return x


def test_mixed_network_on_element_streams():
    rng = np.random.default_rng(21)
    cases = mixed_cases(rng)
    network = Network([build_core(case) for case in cases])
    x = cases[0].random_inputs(rng, 6)
    np.testing.assert_array_equal(stream_through(network, x, rng, 0.3), chained(cases, x))


def test_unrolled_network_with_vector_ports():
    rng = np.random.default_rng(22)
    cases = [case for case in mixed_cases(rng) if case.config.unrolled][:2]
    network = Network([build_core(case) for case in cases], vector_ports=True)
    x = cases[0].random_inputs(rng, 10)
    np.testing.assert_array_equal(vectors_through(network, x, rng, 0.3), chained(cases, x))
    configs = [case.config for case in cases]
    assert network_vector_period(configs, vector_ports=True) == configs[1].codebook_size
    assert network_vector_period(configs) == max(configs[0].n_in, configs[1].codebook_size)


def test_unrolled_configurations_refused():
    with pytest.raises(UserError, match="lognormal only"):
        LayerConfig("int8", 4, 4, datapath="unrolled")
    folded = mixed_cases(np.random.default_rng(1))[2]
    core = LayerCore(folded.config, folded.stored, folded.codebook, shift=folded.shift)
    with pytest.raises(UserError, match="unrolled first and last"):
        Network([core], vector_ports=True)
