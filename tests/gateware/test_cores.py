# amaranth: UnusedElaboratable=no
# (the refusal tests build cores that are never elaborated)
"""The layer cores in the Amaranth simulator, judged bit for bit by the numpy reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from jaynes_hw.contract.codebook import Codebook, LevelFormat
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.registers import (
    ID_MAGIC,
    REG_CONTROL,
    REG_GEOMETRY,
    REG_ID,
    REG_SCALES,
    REG_SHAPE,
    REG_SHIFT,
    LayerDriver,
)
from jaynes_hw.gateware.core import Int8LayerCore, LayerCore
from jaynes_hw.gateware.network import Network
from jaynes_hw.support.errors import UserError
from tests.helpers.amaranth_harness import BusMaster, receive, run, send
from tests.helpers.layer_cases import LayerCase, build_core, random_case, random_codebook


def stream_through(core, x: np.ndarray, rng=None, stall=0.0) -> np.ndarray:
    """Send the vectors ``x`` through ``core`` with random stalls on both streams."""
    n_out = core.layers[-1].config.n_out if isinstance(core, Network) else core.config.n_out
    received = []

    async def producer(ctx):
        await send(ctx, core.x, x.reshape(-1), rng, stall)

    async def consumer(ctx):
        received.extend(await receive(ctx, core.y, x.shape[0] * n_out, rng, stall))

    run(core, producer, consumer)
    return np.array(received, dtype=np.int64).reshape(x.shape[0], n_out)


@pytest.mark.parametrize("seed", range(24))
def test_random_layer_matches_reference_under_stalls(seed):
    rng = np.random.default_rng(seed)
    case = random_case(rng)
    x = case.random_inputs(rng, 5)
    stall = float(rng.choice([0.0, 0.3, 0.6]))
    got = stream_through(build_core(case), x, rng, stall)
    np.testing.assert_array_equal(got, case.expected(x))


@pytest.mark.parametrize("datapath", ["per_lane", "shared"])
@pytest.mark.parametrize("scheme", ["lognormal", "pow2", "lns", "int", "int8"])
def test_every_scheme_and_datapath_matches_reference(scheme, datapath):
    rng = np.random.default_rng(100)
    if scheme == "int8":
        case = random_case(rng, "int8")
    else:
        while (case := random_case(rng, "lognormal", datapath)).codebook.scheme != scheme:
            pass
        assert case.config.datapath == datapath
    x = case.random_inputs(rng, 6)
    np.testing.assert_array_equal(stream_through(build_core(case), x, rng, 0.25), case.expected(x))


def extreme_case(
    kind: str, relu: bool, shift: int, bias_sign: int, fmt=None, datapath="per_lane"
) -> LayerCase:
    """Every connection at the largest magnitude (all negative), 8-bit activations."""
    n_in, n_out = 9, 4
    if kind == "int8":
        config = LayerConfig("int8", n_in, n_out, 2, 8, 8, 8, bias_bits=8, relu=relu)
        stored = np.full((n_out, n_in), -128)
        codebook = None
    else:
        fmt = fmt or LevelFormat(6, 3)
        config = LayerConfig(
            "lognormal", n_in, n_out, 2, 8, 8, 4, fmt.mantissa_bits, fmt.exponent_bits, 8,
            relu, datapath,
        )  # fmt: skip
        levels = np.full(8, fmt.max_mantissa)
        codebook = Codebook("lognormal", 4, fmt, levels, np.full(8, fmt.max_exponent), 1.0)
        stored = np.full((n_out, n_in), 0b1111)  # sign 1, bin 7: -max_level
    bias = np.full(n_out, 127 if bias_sign > 0 else -128)
    return LayerCase(config, stored, codebook, shift, bias)


@pytest.mark.parametrize(
    "kind, fmt, datapath",
    [
        ("lognormal", LevelFormat(6, 3), "per_lane"),
        ("lognormal", LevelFormat(6, 3), "shared"),
        ("lognormal", LevelFormat(6, 2), "shared"),
        ("lognormal", LevelFormat(1, 3), "per_lane"),
        ("lognormal", LevelFormat(1, 3), "shared"),
        ("int8", None, "per_lane"),
    ],
)
@pytest.mark.parametrize("relu", [False, True])
def test_extremes_saturate_exactly(kind, fmt, datapath, relu):
    """All-maximum codes and inputs at every shift from 0 to max_shift: the accumulator must
    hold the worst case and saturation/rounding must match the reference."""
    for shift in (0, 1, 7, 13, 20, None):
        for bias_sign in (1, -1):
            case = extreme_case(kind, relu, 0, bias_sign, fmt, datapath)
            case.shift = (
                case.config.max_shift if shift is None else min(shift, case.config.max_shift)
            )
            x = np.array([[-128] * 9, [127] * 9, [-128, 127] * 4 + [0], [1] * 9])
            got = stream_through(build_core(case), x)
            np.testing.assert_array_equal(got, case.expected(x))


@pytest.mark.parametrize("scale_bits", [0, 8])
def test_accumulator_width_is_exact_at_the_worst_case(scale_bits):
    """With out_bits wide enough to see the raw sum, the worst case comes out unsaturated
    (with channel scales: times the largest scale)."""
    fmt = LevelFormat(6, 3)
    config = LayerConfig("lognormal", 5, 1, 1, 8, 16, 2, 6, 3, scale_bits=scale_bits)
    codebook = Codebook("lognormal", 2, fmt, np.array([63, 63]), np.array([7, 7]), 1.0)
    shift = config.accumulator_bits - 16
    largest_scale = (1 << scale_bits) - 1 if scale_bits else None
    scales = None if largest_scale is None else np.array([largest_scale])
    case = LayerCase(config, np.full((1, 5), 0b11), codebook, shift, None, scales)
    x = np.full((1, 5), -128)
    got = stream_through(build_core(case), x)
    exact = 5 * 128 * fmt.max_level * (largest_scale or 1)
    assert exact >= 1 << (config.accumulator_bits - 2)  # the bound is tight, not loose
    np.testing.assert_array_equal(got, case.expected(x))
    assert got[0, 0] > 0  # the product of two negatives survived without wrapping


@pytest.mark.parametrize("seed", range(3))
def test_codebook_commits_land_on_vector_boundaries(seed):
    """The host swaps between two codebooks (and shifts, and channel scales where the core
    has them) six times while vectors stream with random stalls: every vector must come out
    wholly under one of them, in commit order."""
    rng = np.random.default_rng(seed)
    while True:  # a layer with channel scales on which the two settings disagree mostly
        case = random_case(rng, "lognormal")
        if not case.config.scale_bits:
            continue
        other = random_codebook(rng, case.codebook.scheme, case.codebook.bits)
        other_scales = rng.integers(0, 1 << case.config.scale_bits, case.config.n_out)
        books = [
            (case.codebook, case.shift, case.scales),
            (replace(other, format=case.codebook.format), max(case.shift - 1, 0), other_scales),
        ]
        x = case.random_inputs(rng, 60)
        outcomes = [case.expected(x, codebook=b, shift=s, scales=c) for b, s, c in books]
        if case.config.n_in >= 4 and (outcomes[0] != outcomes[1]).any(axis=1).sum() > 40:
            break
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    received = []

    async def producer(ctx):
        await send(ctx, core.x, x.reshape(-1), rng, 0.2)

    async def consumer(ctx):
        received.extend(await receive(ctx, core.y, outcomes[0].size, rng, 0.2))

    async def host(ctx):
        bus = BusMaster(core.bus)
        for swap in range(6):
            for _ in range(int(rng.integers(5, 40))):
                await ctx.tick()
            book, shift, scales = books[(swap + 1) % 2]
            writes = driver.codebook_writes(book) + driver.shift_writes(shift)
            await bus.play(ctx, writes + driver.scale_writes(scales))
            await bus.play(ctx, driver.commit_writes())
            while LayerDriver.decode_status(await bus.read(ctx, REG_CONTROL))["commit_pending"]:
                pass

    run(core, producer, consumer, host)
    got = np.array(received).reshape(outcomes[0].shape)
    under = [(got == outcome).all(axis=1) for outcome in outcomes]
    assert (under[0] | under[1]).all(), "a vector mixed old and new strengths"
    distinct = under[0] != under[1]
    assert distinct.sum() > 40, "the two codebooks must give different outputs"
    labels = under[1][distinct].astype(int)  # 0: first codebook, 1: second
    switches = int(np.count_nonzero(np.diff(labels)))
    assert labels[0] == 0 and 2 <= switches <= 6


def test_register_readback_and_memory_writes():
    rng = np.random.default_rng(3)
    config = LayerConfig("lognormal", 6, 5, 3, bias_bits=10, code_bits=4, relu=False, scale_bits=5)
    codebook = random_codebook(rng, "lognormal", 4)
    case = LayerCase(
        config, rng.integers(0, 16, (5, 6)), codebook, 3, rng.integers(-512, 512, 5),
        rng.integers(0, 32, 5),
    )  # fmt: skip
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    new_codes = rng.integers(0, 16, (5, 6))
    new_bias = rng.integers(-512, 512, 5)
    new_scales = np.array([31, 0, 1, 17, 9])
    x = case.random_inputs(rng, 3)
    read = {}
    received = []

    async def host(ctx):
        bus = BusMaster(core.bus)
        read["id"] = await bus.read(ctx, REG_ID)
        read["shape"] = await bus.read(ctx, REG_SHAPE)
        read["geometry"] = await bus.read(ctx, REG_GEOMETRY)
        read["levels"] = [await bus.read(ctx, a) for a, _ in driver.codebook_writes(codebook)]
        read["bias"] = [await bus.read(ctx, driver.map.bias_address(o)) for o in range(5)]
        read["scales"] = [await bus.read(ctx, driver.map.scale_address(o)) for o in range(5)]
        read["scale_bits"] = await bus.read(ctx, REG_SCALES)
        read["code"] = await bus.read(ctx, driver.map.code_address(4, 5))
        read["unmapped"] = await bus.read(ctx, 7)
        await bus.play(ctx, driver.code_writes(new_codes) + driver.bias_writes(new_bias))
        await bus.play(ctx, driver.scale_writes(new_scales))
        read["new_scales"] = [await bus.read(ctx, driver.map.scale_address(o)) for o in range(5)]
        await bus.write(ctx, REG_SHIFT, 4)
        read["shift"] = await bus.read(ctx, REG_SHIFT)
        read["new_code"] = await bus.read(ctx, driver.map.code_address(4, 5))
        await bus.play(ctx, driver.commit_writes())
        await send(ctx, core.x, x.reshape(-1))

    async def consumer(ctx):
        received.extend(await receive(ctx, core.y, x.shape[0] * 5))

    run(core, host, consumer)
    assert read["id"] & 0xFFFF_0000 == ID_MAGIC and read["id"] & 0xFF == 1
    assert read["shape"] == 6 | 5 << 16
    assert read["geometry"] & 0xFF == 3
    assert read["levels"] == [data for _, data in driver.codebook_writes(codebook)]
    assert [LayerDriver.decode_signed(word) for word in read["bias"]] == case.bias.tolist()
    assert read["scales"] == case.scales.tolist() and read["scale_bits"] == 5
    assert read["new_scales"] == new_scales.tolist()
    assert read["code"] == case.stored[4, 5]
    assert read["unmapped"] == 0
    assert read["shift"] == 4
    assert read["new_code"] == new_codes[4, 5]
    got = np.array(received).reshape(3, 5)
    expected = case.expected(x, shift=4, stored=new_codes, bias=new_bias, scales=new_scales)
    np.testing.assert_array_equal(got, expected)


def test_memory_reads_while_streaming_do_not_disturb_the_datapath():
    rng = np.random.default_rng(5)
    while not (case := random_case(rng, "lognormal")).config.bias_bits:
        pass
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    x = case.random_inputs(rng, 12)
    received, reads = [], []

    async def producer(ctx):
        await send(ctx, core.x, x.reshape(-1), rng, 0.1)

    async def consumer(ctx):
        received.extend(await receive(ctx, core.y, x.shape[0] * case.config.n_out, rng, 0.1))

    async def host(ctx):
        bus = BusMaster(core.bus)
        for _ in range(80):
            o, i = int(rng.integers(case.config.n_out)), int(rng.integers(case.config.n_in))
            code = await bus.read(ctx, driver.map.code_address(o, i))
            bias = LayerDriver.decode_signed(await bus.read(ctx, driver.map.bias_address(o)))
            reads.append((code == case.stored[o, i], bias == case.bias[o]))

    run(core, producer, consumer, host)
    assert all(code_ok and bias_ok for code_ok, bias_ok in reads)
    np.testing.assert_array_equal(np.array(received).reshape(12, -1), case.expected(x))


def measure_timing(case: LayerCase, vectors: int):
    """Cycles at which each input was accepted and each output delivered (never stalled)."""
    core = build_core(case)
    accepted, delivered = [], []

    async def producer(ctx):
        cycle = 0
        ctx.set(core.x.valid, 1)
        flat = case.random_inputs(np.random.default_rng(0), vectors).reshape(-1)
        index = 0
        while index < len(flat):
            ctx.set(core.x.payload, int(flat[index]))
            _, _, ready = await ctx.tick().sample(core.x.ready)
            if ready:
                accepted.append(cycle)
                index += 1
            cycle += 1
        ctx.set(core.x.valid, 0)

    async def consumer(ctx):
        await receive(ctx, core.y, vectors * case.config.n_out, log=delivered)

    run(core, producer, consumer)
    return np.array(accepted), np.array(delivered)


@pytest.mark.parametrize(
    "n_in,lanes,n_out,scale_bits",
    [(8, 4, 12, 0), (7, 4, 12, 0), (16, 3, 7, 0), (3, 1, 1, 0), (1, 2, 2, 0), (9, 4, 12, 4)],
)
def test_latency_and_full_rate(n_in, lanes, n_out, scale_bits):
    config = LayerConfig("int8", n_in, n_out, lanes, scale_bits=scale_bits)
    scales = np.full(n_out, 3) if scale_bits else None
    case = LayerCase(config, np.ones((n_out, n_in), dtype=np.int64), None, 0, None, scales)
    accepted, delivered = measure_timing(case, 4)
    starts = accepted[::n_in]
    periods = np.diff(starts)
    if config.full_rate:
        assert (periods == config.cycles_per_vector).all(), periods
    else:
        assert (periods > config.cycles_per_vector).any(), periods
    # first result of the vector: the last input beat of pass 0, then pass 1.. (n_in each)
    last_beat_of_first_pass = accepted[n_in - 1]
    assert delivered[0] - last_beat_of_first_pass == config.pipeline_latency


def test_network_matches_chained_reference():
    rng = np.random.default_rng(11)
    first = random_case(rng, "lognormal")
    second = random_case(rng, "int8")
    second.config = LayerConfig(
        "int8", first.config.n_out, 3, 2, first.config.out_bits, 8, 8, bias_bits=0, relu=False
    )
    second.stored = rng.integers(-128, 128, (3, first.config.n_out))
    second.bias = None
    network = Network([build_core(first), build_core(second)])
    x = first.random_inputs(rng, 6)
    got = stream_through(network, x, rng, 0.3)
    np.testing.assert_array_equal(got, second.expected(first.expected(x)))


def test_network_runs_at_its_slowest_layer_rate():
    """Back-to-back vectors: a new vector every max(passes * (n_in + 1)) cycles, even though
    the second layer replays its input for five passes."""
    rng = np.random.default_rng(13)
    first = LayerCase(
        LayerConfig("int8", 16, 12, 3), rng.integers(-128, 128, (12, 16)), None, 9, None
    )
    second = LayerCase(
        LayerConfig("int8", 12, 5, 1), rng.integers(-128, 128, (5, 12)), None, 9, None
    )
    network = Network([build_core(first), build_core(second)])
    accepted = []

    async def producer(ctx):
        ctx.set(network.x.valid, 1)
        cycle = 0
        while len(accepted) < 6 * 16:
            _, _, ready = await ctx.tick().sample(network.x.ready)
            if ready:
                accepted.append(cycle)
            cycle += 1
        ctx.set(network.x.valid, 0)

    async def consumer(ctx):
        await receive(ctx, network.y, 6 * 5)

    run(network, producer, consumer)
    periods = np.diff(np.array(accepted)[::16])
    # 4 passes of 16 beats and an idle cycle, against 5 passes of 12 and one
    assert first.config.cycles_per_vector == 4 * 17 > second.config.cycles_per_vector == 5 * 13
    assert (periods == 4 * 17).all(), periods


def test_network_bus_reaches_each_layer():
    rng = np.random.default_rng(12)
    first, second = random_case(rng, "int8"), random_case(rng, "int8")
    second.config = LayerConfig("int8", first.config.n_out, 2, 1, first.config.out_bits)
    second.stored = rng.integers(-128, 128, (2, first.config.n_out))
    second.bias = second.scales = None
    network = Network([build_core(first), build_core(second)])
    words = {}

    async def host(ctx):
        bus = BusMaster(network.bus)
        for index, base in enumerate(network.layer_bases):
            words[index] = await bus.read(ctx, base + REG_SHAPE)
        words["hole"] = await bus.read(ctx, network.layer_bases[1] - 1)

    run(network, host)
    assert words[0] == first.config.n_in | first.config.n_out << 16
    assert words[1] == second.config.n_in | 2 << 16
    assert words["hole"] == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LayerConfig("lognormal", 4, 3, lanes=4), "lanes"),
        (lambda: LayerConfig("ternary", 4, 3), "unknown core"),
        (lambda: LayerConfig("lognormal", 4, 3, act_bits=1), "act_bits"),
        (lambda: LayerConfig("lognormal", 4, 3, code_bits=9), "bits"),
        (lambda: LayerConfig("int8", 4, 3, code_bits=4), "8-bit"),
        (lambda: LayerConfig("lognormal", 60000, 3, mantissa_bits=16, exponent_bits=5), "63"),
        (
            lambda: LayerCore(
                LayerConfig("lognormal", 2, 2, code_bits=3),
                np.zeros((2, 2), dtype=int),
                random_codebook(np.random.default_rng(0), "lognormal", 4),
            ),
            "levels",
        ),
        (
            lambda: LayerCore(
                LayerConfig("lognormal", 2, 2, code_bits=4),
                np.full((2, 2), 16),
                random_codebook(np.random.default_rng(0), "lognormal", 4),
            ),
            "codes",
        ),
        (
            lambda: LayerCore(
                LayerConfig("lognormal", 2, 2, code_bits=4, mantissa_bits=1, exponent_bits=3),
                np.zeros((2, 2), dtype=int),
                random_codebook(np.random.default_rng(0), "lognormal", 4),
            ),
            "format",
        ),
        (
            lambda: Int8LayerCore(
                LayerConfig("int8", 2, 2, bias_bits=4), np.zeros((2, 2)), bias=np.array([9, 0])
            ),
            "4-bit",
        ),
        (
            lambda: Int8LayerCore(LayerConfig("int8", 2, 2), np.zeros((2, 2)), shift=99),
            "shift",
        ),
        (
            lambda: Int8LayerCore(LayerConfig("int8", 2, 2), np.zeros((2, 2)), scales=[1, 2]),
            "scale_bits = 0",
        ),
        (
            lambda: Int8LayerCore(
                LayerConfig("int8", 2, 2, scale_bits=2), np.zeros((2, 2)), scales=[1, 4]
            ),
            "2-bit unsigned",
        ),
        (lambda: LayerConfig("lognormal", 4, 3, datapath="unrolled", scale_bits=4), "folded"),
        (lambda: LayerConfig("int8", 4, 3, scale_bits=17), "scale_bits"),
    ],
)
def test_bad_configuration_is_refused(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_network_refuses_mismatched_widths():
    a = Int8LayerCore(LayerConfig("int8", 3, 2, out_bits=8), np.zeros((2, 3)))
    b = Int8LayerCore(LayerConfig("int8", 3, 2, act_bits=8), np.zeros((2, 3)))
    with pytest.raises(UserError, match="taking 3 values cannot follow one giving 2"):
        Network([a, b])
    c = Int8LayerCore(LayerConfig("int8", 2, 2, act_bits=6), np.zeros((2, 2)))
    with pytest.raises(UserError, match="bits"):
        Network([a, c])
