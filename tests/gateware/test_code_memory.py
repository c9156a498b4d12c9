# amaranth: UnusedElaboratable=no
# (the refusal tests build configs whose cores are never elaborated)
"""Cores whose codes live in single-port RAM (``code_memory = "spram"``): loaded through the
configuration port, then judged bit for bit by the numpy reference; on an iCE40 UltraPlus
they are SB_SPRAM256KA blocks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from amaranth.back import rtlil

from jaynes_hw.boards.definitions import board_named
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.registers import REG_FORMAT, LayerDriver, RegisterMap
from jaynes_hw.support.errors import UserError
from tests.helpers.amaranth_harness import BusMaster, receive, run, send
from tests.helpers.layer_cases import LayerCase, build_core, random_case, random_codebook


def spram_case(rng, kind: str, lanes: int) -> LayerCase:
    """A random layer of ``kind`` with 4-bit (lognormal) or 8-bit codes, in SPRAM."""
    while True:
        case = random_case(rng, kind)
        if case.config.code_bits in (4, 8) and case.config.n_out >= lanes:
            break
    config = replace(case.config, lanes=lanes, code_memory="spram")
    return replace(case, config=config)


@pytest.mark.parametrize("kind, lanes, seed, packed", [
    ("lognormal", 4, 1, False), ("lognormal", 3, 2, False), ("int8", 2, 3, False),
    ("lognormal", 1, 4, False),
    # packed: a row in one write (4 lanes), in two whose second is partly past the last
    # lane (9 lognormal lanes: 8 + 1; 6 int8 lanes: 4 + 2), one lane a write (1 lane)
    ("lognormal", 4, 5, True), ("lognormal", 9, 6, True), ("int8", 6, 7, True),
    ("lognormal", 1, 8, True),
])  # fmt: skip
def test_codes_loaded_through_the_port_then_streamed_match_the_reference(kind, lanes, seed, packed):
    rng = np.random.default_rng(seed)
    case = spram_case(rng, kind, lanes)
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    x = case.random_inputs(rng, 6)
    received, read_back, before = [], [], []
    n_out, n_in = case.config.n_out, case.config.n_in

    async def host(ctx):
        bus = BusMaster(core.bus)
        before.append(await bus.read(ctx, driver.map.code_address(n_out - 1, n_in - 1)))
        load = driver.packed_code_writes if packed else driver.code_writes
        await bus.play(ctx, load(case.stored))
        for o in range(n_out):
            for i in range(n_in):
                read_back.append(await bus.read(ctx, driver.map.code_address(o, i)))
        await send(ctx, core.x, x.reshape(-1), rng, 0.3)

    async def consumer(ctx):
        received.extend(await receive(ctx, core.y, x.shape[0] * n_out, rng, 0.3))

    run(core, host, consumer)
    assert before == [0]  # nothing comes from the bitstream: the model starts from zeros
    assert read_back == driver.stored_words(case.stored).reshape(-1).tolist()
    np.testing.assert_array_equal(np.array(received).reshape(x.shape[0], n_out), case.expected(x))


def test_code_writes_while_streaming_stall_the_issue_and_take_effect():
    """Rewriting the codes between two batches of vectors: every vector is computed wholly
    with the old codes or wholly with the new ones, in order."""
    rng = np.random.default_rng(7)
    case = spram_case(rng, "lognormal", 2)
    core = build_core(case)
    driver = LayerDriver(core.register_map)
    new_codes = rng.integers(0, 16, case.stored.shape)
    first, second = case.random_inputs(rng, 4), case.random_inputs(rng, 4)
    n_out = case.config.n_out
    received = []

    async def host(ctx):
        bus = BusMaster(core.bus)
        await bus.play(ctx, driver.code_writes(case.stored))
        await send(ctx, core.x, first.reshape(-1), rng, 0.2)
        while len(received) < first.shape[0] * n_out:
            await ctx.tick()
        await bus.play(ctx, driver.code_writes(new_codes))
        await send(ctx, core.x, second.reshape(-1), rng, 0.2)

    async def consumer(ctx):
        for _ in range((first.shape[0] + second.shape[0]) * n_out):
            received.extend(await receive(ctx, core.y, 1, rng, 0.2))

    run(core, host, consumer)
    got = np.array(received).reshape(-1, n_out)
    np.testing.assert_array_equal(got[:4], case.expected(first))
    np.testing.assert_array_equal(got[4:], case.expected(second, stored=new_codes))
    assert not np.array_equal(case.expected(second), case.expected(second, stored=new_codes))


def test_the_format_register_says_where_the_codes_are():
    config = LayerConfig("lognormal", 8, 4, 2, code_memory="spram")
    for memory, bit in (("spram", 1), ("block", 0)):
        constants = RegisterMap.of(replace(config, code_memory=memory)).constant_registers()
        assert constants[REG_FORMAT] >> 28 & 1 == bit


def _instances(core, platform) -> list[str]:
    text = rtlil.convert(core, platform=platform)
    return [line.split()[1] for line in text.splitlines() if line.strip().startswith("cell ")]


@pytest.mark.parametrize("n_in, n_out, lanes, code_bits, blocks",
                         [(256, 256, 16, 4, 4), (256, 256, 8, 8, 4), (64, 32, 4, 4, 1),
                          (2048, 16, 1, 4, 2)])  # fmt: skip
def test_on_the_up5k_the_codes_are_spram_blocks(n_in, n_out, lanes, code_bits, blocks):
    """Wide rows take blocks side by side, deep ones banks of them (16384 rows each)."""
    rng = np.random.default_rng(0)
    kind = "int8" if code_bits == 8 else "lognormal"
    config = LayerConfig(kind, n_in, n_out, lanes, code_memory="spram")
    codebook = random_codebook(rng, "pow2", 4) if kind == "lognormal" else None
    if kind == "lognormal":
        config = replace(config, mantissa_bits=1, exponent_bits=codebook.format.exponent_bits)
    low = -128 if kind == "int8" else 0
    stored = rng.integers(low, low + (1 << code_bits), (n_out, n_in))
    case = LayerCase(config, stored, codebook, 0, None)
    assert config.spram_blocks == blocks
    platform = board_named("icebreaker").platform()
    cells = _instances(build_core(case), platform)
    assert cells.count("\\SB_SPRAM256KA") == blocks
    assert "\\SB_SPRAM256KA" not in _instances(build_core(case), None)


@pytest.mark.parametrize("changes, message", [
    ({"datapath": "unrolled"}, "codes are its wiring"),
    ({"code_bits": 6}, "4- or 8-bit codes"),
    ({"lanes": 32}, "wider than the four SPRAM blocks"),
    ({"lanes": 1, "n_in": 65535, "n_out": 8}, "an iCE40 UltraPlus has 4"),
    ({"code_memory": "flash"}, "unknown code_memory 'flash'"),
])  # fmt: skip
def test_layouts_spram_cannot_hold_are_refused(changes, message):
    parameters = {"kind": "lognormal", "n_in": 16, "n_out": 32, "lanes": 4,
                  "code_memory": "spram"} | changes  # fmt: skip
    with pytest.raises(UserError, match=message):
        LayerConfig(**parameters)
