"""The cocotb scenarios that judge a generated design's Verilog against the reference.

Each ``@cocotb.test`` is one scenario and starts from a reset (``Bench.start``); a scenario
that rewrites the code memories (``extremes``) writes them back before it ends, so the
scenarios also pass one after the other in one simulator (``make -C sim``). The runner
(``jaynes_hw.sim.runner``, whose ``SCENARIOS`` names them) runs each in a fresh simulator.

=================== =======================================================================
scenario            checks
=================== =======================================================================
registers           ID/shape/format words, codebook and code reads equal the manifest (an
                    unrolled layer's code writes change nothing);
                    STATUS shows busy and a pending commit while a vector is half in, and
                    every layer's STATUS reads busy while vectors stream; a commit to
                    each layer alone (levels reversed, even bins pruned) changes the
                    outputs as the reference says
random_stream       random vectors under idle cycles and back-pressure
stall_bursts        y's ready held low for up to two vector periods at a time: every queue
                    and FIFO of the network fills and must neither overflow nor repeat
full_rate           back-to-back vectors: measured cycles per vector (between last results)
                    equal the theory's (with a convolution layer: at most its bound)
retune_mid_stream   a codebook (reversed, odd bins pruned) and shift of one layer (the
                    slowest convolution, if any) rewritten while vectors stream, y held
                    two vector periods from the commit on: every vector wholly old or
                    wholly new, in that order, both sides seen
extremes            largest weights and levels, inputs at both ends, own shifts and shift 0
                    (an unrolled layer: its baked codes at the largest levels)
reset_mid_vector    reset with half a vector inside, then exact results and nothing left over
=================== =======================================================================
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from jaynes_hw.contract.design import DesignLayer
from jaynes_hw.contract.registers import EXPONENT_FIELD, REG_CONTROL, REG_SHIFT, LayerDriver
from jaynes_hw.sim.bench import Bench
from jaynes_hw.sim.scoreboard import check_outputs


@cocotb.test()
async def registers(dut):
    """The register map the manifest documents is the one in the Verilog."""
    bench = Bench(dut)
    await bench.start()
    for layer in bench.design.layers:
        register_map = layer.driver.map
        for offset, value in register_map.constant_registers().items():
            word = await bench.port.read(layer.base_address + offset)
            assert word == value, f"layer at {layer.base_address}: word {offset} = {word:#x}"
        await _check_staged_registers(bench, layer, "after reset")
        for _ in range(8):
            o = int(bench.rng.integers(layer.config.n_out))
            i = int(bench.rng.integers(layer.config.n_in))
            address = layer.base_address + register_map.code_address(o, i)
            stored = int(layer.stored[o, i]) & ((1 << layer.config.code_bits) - 1)
            assert await bench.port.read(address) == stored
            if not layer.config.codes_writable:  # wiring: a write changes nothing
                await bench.port.write(address, stored ^ 1)
                assert await bench.port.read(address) == stored, "a baked code was rewritten"
    await _status_while_half_a_vector_is_in(bench)
    for index, layer in enumerate(bench.design.layers):
        await _status_busy_while_streaming(bench, layer)
        await _commit_takes_effect(bench, index)
    bench.report(scenario="registers", layers=len(bench.design.layers))


async def _commit_takes_effect(bench: Bench, index: int) -> None:
    """A new shift (and for codebook layers, levels in reverse bin order with the even bins
    pruned) committed to layer ``index`` alone changes the outputs exactly as the reference
    says; then it is put back."""
    layer = bench.design.layers[index]
    writes, mantissas, exponents, new_shift = _retuned(layer, pruned=0)
    after = bench.design.copy()
    after.layers[index].shift = new_shift
    if mantissas is not None:
        after.layers[index].mantissas, after.layers[index].exponents = mantissas, exponents
    await bench.port.play(writes)
    await _check_staged_registers(bench, after.layers[index], "retuned")
    await bench.port.play(layer.driver.commit_writes())
    await bench.port.wait_commit(layer)
    x = bench.design.random_inputs(bench.rng, 2)
    check_outputs(f"registers (layer {index} retuned)", await bench.stream(x), after.forward(x))
    restore = layer.driver.shift_writes(layer.shift)
    if mantissas is not None:
        restore += layer.driver.level_writes(layer.mantissas, layer.exponents)
    await bench.port.play(restore)
    await _check_staged_registers(bench, layer, "restored")
    await bench.port.play(layer.driver.commit_writes())
    await bench.port.wait_commit(layer)


async def _check_staged_registers(bench: Bench, layer: DesignLayer, when: str) -> None:
    """The staged shift and every codebook register read back as ``layer`` has them: each
    write landed in its own register and in no other."""
    register_map = layer.driver.map
    shift = await bench.port.read(layer.base_address + REG_SHIFT)
    assert shift == layer.shift, f"layer at {layer.base_address:#x} ({when}): shift {shift}"
    if layer.config.kind != "lognormal":
        return
    for k in range(layer.config.codebook_size):
        word = await bench.port.read(layer.base_address + register_map.level_address(k))
        expected = int(layer.mantissas[k]) | int(layer.exponents[k]) << EXPONENT_FIELD
        assert word == expected, (
            f"layer at {layer.base_address:#x} ({when}): level {k} reads {word:#x}, "
            f"expected {expected:#x}"
        )


async def _status_busy_while_streaming(bench: Bench, layer: DesignLayer) -> None:
    """While vectors stream back to back, the layer's STATUS reads busy at least once (its
    vectors keep it busy nearly all the time); afterwards it reads idle."""
    design = bench.design
    status = layer.base_address + REG_CONTROL
    x = design.random_inputs(bench.rng, 3)
    stream = cocotb.start_soon(bench.stream(x))
    seen_busy = False
    while not stream.done() and not seen_busy:
        seen_busy = LayerDriver.decode_status(await bench.port.read(status))["busy"]
    check_outputs("registers (busy)", await stream, design.forward(x))
    assert seen_busy, f"layer at {layer.base_address:#x}: STATUS never read busy in 3 vectors"
    word = LayerDriver.decode_status(await bench.port.read(status))
    assert not word["busy"], f"layer at {layer.base_address:#x}: STATUS {word} when idle"


async def _status_while_half_a_vector_is_in(bench: Bench) -> None:
    """With half a vector in the first layer, its STATUS reads busy; a commit written then
    stays pending (a vector boundary has not come) until the rest arrives and is computed;
    the outputs are exact and STATUS reads idle afterwards. An unrolled first layer takes
    whole vectors: the half waits in the adapter before it, the layer reads idle and the
    commit applies at once."""
    design, layer = bench.design, bench.design.layers[0]
    status = layer.base_address + REG_CONTROL
    x = design.random_inputs(bench.rng, 1)
    half = max(design.n_in // 2, 1)
    await bench.driver.send(x[0, :half], bench.patience)
    word = LayerDriver.decode_status(await bench.port.read(status))
    whole_vectors = layer.config.unrolled
    assert word["busy"] != whole_vectors, f"layer 0 STATUS {word} with half a vector in"
    await bench.port.play(layer.driver.shift_writes(layer.shift) + layer.driver.commit_writes())
    word = LayerDriver.decode_status(await bench.port.read(status))
    assert word["commit_pending"] != whole_vectors, f"layer 0 STATUS {word} mid-vector"
    due = bench.cycle + 2 * bench.patience  # the rest sent, then the vector computed
    received = cocotb.start_soon(bench.monitor.receive(
        design.n_out, design.n_out, bench.cycle, lambda vector: due
    ))  # fmt: skip
    await bench.driver.send(x[0, half:], bench.patience)
    got = np.array(await received, dtype=np.int64).reshape(1, -1)
    check_outputs("registers (half a vector)", got, design.forward(x))
    await bench.port.wait_commit(layer)
    word = LayerDriver.decode_status(await bench.port.read(status))
    assert not word["busy"] and not word["commit_pending"], f"layer 0 STATUS {word} when idle"


@cocotb.test()
async def random_stream(dut):
    """Random vectors with random idle cycles on x and back-pressure on y."""
    bench = Bench(dut)
    await bench.start()
    x = bench.design.random_inputs(bench.rng, bench.vectors)
    got = await bench.stream(x, idle=0.3, backpressure=0.3)
    check_outputs("random_stream", got, bench.design.forward(x))
    bench.report(scenario="random_stream", vectors=len(x))


@cocotb.test()
async def stall_bursts(dut):
    """y's ready dropped (probability 1 % a cycle) for up to two vector periods at a time,
    x idle 20 % of cycles: the back-pressure reaches every layer's output queue and the FIFOs
    between layers, so a queue that overflows or a credit miscounted loses or repeats
    results."""
    bench = Bench(dut)
    await bench.start()
    x = bench.design.random_inputs(bench.rng, bench.vectors)
    burst = 2 * bench.design.vector_period
    got = await bench.stream(x, idle=0.2, backpressure=0.01, burst=burst)
    check_outputs("stall_bursts", got, bench.design.forward(x))
    bench.report(scenario="stall_bursts", vectors=len(x))


@cocotb.test()
async def full_rate(dut):
    """Back-to-back vectors with y always ready: cycles per vector must be the theory's,
    measured between the vectors' last results (inputs may run ahead of the slowest layer
    for as many vectors as the layers before it hold)."""
    bench = Bench(dut)
    await bench.start()
    design = bench.design
    x = design.random_inputs(bench.rng, max(bench.vectors, 3))
    delivered = []
    start, wall = bench.cycle, time.perf_counter()
    got = await bench.stream(x, delivered=delivered)
    total, wall = bench.cycle - start, time.perf_counter() - wall
    check_outputs("full_rate", got, design.forward(x))
    periods = np.diff(np.array(delivered)[design.n_out - 1 :: design.n_out])
    measured = float(np.median(periods))
    theory = design.vector_period
    bench.report(
        scenario="full_rate",
        vectors=len(x),
        cycles_per_vector=measured,
        theoretical_cycles_per_vector=theory,
        ratio=measured / theory,
        full_rate=design.full_rate,
        total_cycles=total,
        wall_seconds=wall,
    )
    if design.full_rate:
        assert (periods == theory).all(), f"periods {periods.tolist()}, theory {theory}"
    elif any(layer.convolution is not None for layer in design.layers):  # theory: a bound
        assert (periods <= theory).all(), f"periods {periods.tolist()} above the bound {theory}"


def _retuned(layer: DesignLayer, pruned: int):
    """Writes of a different codebook and shift for ``layer``, with the new mantissas,
    exponents (None for int8) and shift. The levels go in reverse bin order, and every
    other bin is pruned (mantissa 0: the bins of parity ``pruned``), so every codebook
    register is written a new value by one of the two parities, even in a powers-of-two
    core, whose reversed levels may equal the old ones."""
    driver = layer.driver
    new_shift = max(layer.shift - 1, 0) if layer.shift else 1
    writes = driver.shift_writes(new_shift)
    if layer.config.kind == "lognormal":
        mantissas, exponents = layer.mantissas[::-1].copy(), layer.exponents[::-1].copy()
        mantissas[pruned::2] = 0
        writes = writes + driver.level_writes(mantissas, exponents)
    else:
        mantissas = exponents = None
    return writes, mantissas, exponents, new_shift


def _layer_to_retune(design, rng: np.random.Generator) -> int:
    """A random layer; in a network with convolutions, the slowest convolution: its commit
    must wait for the end of an image, not of a position, and the slowest one is busy in
    the middle of an image nearly all the time (a faster one idles at image boundaries,
    waiting for its next image)."""
    convolutions = {
        index: layer.convolution.image_cycles(layer.config.cycles_per_vector)
        for index, layer in enumerate(design.layers)
        if layer.convolution is not None
    }
    if convolutions:
        return max(convolutions, key=convolutions.get)
    return int(rng.integers(len(design.layers)))


@cocotb.test()
async def retune_mid_stream(dut):
    """Re-tune one layer while vectors stream, y held for two vector periods from the commit
    on: every vector is wholly old or wholly new, in that order, and both sides of the
    switch are seen."""
    bench = Bench(dut)
    await bench.start()
    design = bench.design
    index = _layer_to_retune(design, bench.rng)
    layer = design.layers[index]
    writes, mantissas, exponents, new_shift = _retuned(layer, pruned=1)
    after = design.copy()
    after.layers[index].shift = new_shift
    if mantissas is not None:
        after.layers[index].mantissas, after.layers[index].exponents = mantissas, exponents
    x = design.random_inputs(bench.rng, max(bench.vectors, 6))
    old, new = design.forward(x), after.forward(x)

    async def host():
        await bench.clocks(design.vector_period * 2 + int(bench.rng.integers(design.vector_period)))
        # y held for two vector periods from the commit on: results back up into every
        # queue and bank, and must still leave with the old strengths
        bench.monitor.held = True
        await bench.port.play(writes + layer.driver.commit_writes())
        await bench.clocks(2 * design.vector_period)
        bench.monitor.held = False
        await bench.port.wait_commit(layer)

    retune = cocotb.start_soon(host())
    got = await bench.stream(x, idle=0.1, backpressure=0.1)
    await retune
    is_old = (got == old).all(axis=1)
    is_new = (got == new).all(axis=1)
    assert (is_old | is_new).all(), "a vector mixed old and new strengths"
    distinct = ~(old == new).all(axis=1)
    labels = is_new[distinct]
    assert labels.size >= 2, "the retune must change some outputs"
    switch = int(np.argmax(labels)) if labels.any() else labels.size
    assert not labels[:switch].any() and labels[switch:].all(), "the switch went back"
    assert 0 < switch < labels.size, "both sides of the switch must be seen"
    bench.report(scenario="retune_mid_stream", layer=index, vectors=len(x), switch_at=switch)


@cocotb.test()
async def extremes(dut):
    """Every connection at the largest negative weight, every level at the register maximum,
    inputs at the minimum and maximum: saturation and the widest sums, at shift 0 and at
    each layer's own shift. The original codes are written back at the end."""
    bench = Bench(dut)
    await bench.start()
    original = bench.design
    design = original.copy()
    for layer in design.layers:
        config, driver = layer.config, layer.driver
        if config.kind == "int8":
            layer.stored = np.full((config.n_out, config.n_in), -128)
        else:  # codes baked into an unrolled layer stay its own, at the largest levels
            if config.codes_writable:
                top_code = (1 << config.code_bits) - 1  # sign 1, largest bin
                layer.stored = np.full((config.n_out, config.n_in), top_code)
            fmt = config.level_format
            layer.mantissas = np.full(config.codebook_size, fmt.max_mantissa)
            layer.exponents = np.full(config.codebook_size, fmt.max_exponent)
            await bench.port.play(driver.level_writes(layer.mantissas, layer.exponents))
        if config.codes_writable:
            await bench.port.play(driver.code_writes(layer.stored))
        await bench.port.play(driver.commit_writes())
        await bench.port.wait_commit(layer)
    low, high = -(1 << (design.act_bits - 1)), (1 << (design.act_bits - 1)) - 1
    x = np.array([[low] * design.n_in, [high] * design.n_in, [low, high] * (design.n_in // 2)
                  + [low] * (design.n_in % 2)])  # fmt: skip
    got = await bench.stream(x)
    check_outputs("extremes (own shifts)", got, design.forward(x))
    for layer in design.layers:
        layer.shift = 0
        await bench.port.play(layer.driver.shift_writes(0) + layer.driver.commit_writes())
        await bench.port.wait_commit(layer)
    got = await bench.stream(x)
    check_outputs("extremes (shift 0)", got, design.forward(x))
    for layer in original.layers:  # memories keep their contents through a reset
        if layer.config.codes_writable:
            await bench.port.play(layer.driver.code_writes(layer.stored))
    bench.report(scenario="extremes", vectors=2 * len(x))


@cocotb.test()
async def reset_mid_vector(dut):
    """Reset with half a vector inside: afterwards the network computes fresh vectors exactly,
    with nothing left over from the interrupted one."""
    bench = Bench(dut)
    await bench.start()
    design = bench.design
    x = design.random_inputs(bench.rng, max(bench.vectors, 2))
    half = x[0, : max(design.n_in // 2, 1)]
    await bench.driver.send(half, bench.patience, idle=0.2)
    for _ in range(int(bench.rng.integers(1, 20))):
        await RisingEdge(dut.clk)
    await bench.reset()
    got = await bench.stream(x, idle=0.2, backpressure=0.2)
    check_outputs("reset_mid_vector", got, design.forward(x))
    await bench.monitor.assert_silent(design.vector_period)  # nothing more may come out
    bench.report(scenario="reset_mid_vector", vectors=len(x))
