"""cocotb testbench for a generated network, run on its Verilog (see ``jaynes_hw.sim.runner``).

Pieces: a stream driver with random idle cycles, a monitor with random back-pressure feeding
an in-order scoreboard, a configuration-port master that plays ``LayerDriver`` writes, and
``NetworkModel`` (the numpy reference, rebuilt from the generator's files) as the judge.

The runner passes the scenario in environment variables:

- ``JAYNES_HW_SIM_MANIFEST``: the manifest of the design under test;
- ``JAYNES_HW_SIM_VECTORS``: vectors per scenario; ``JAYNES_HW_SIM_SEED``: the seed;
- ``JAYNES_HW_SIM_REPORT``: a JSON-lines file each scenario appends its figures to;
- ``JAYNES_HW_SIM_PLAYBACK`` / ``JAYNES_HW_SIM_RECORDED``: the ``playback`` scenario's script
  and where it records the outputs (``runner.playback`` writes and reads both).

Each ``@cocotb.test`` is one scenario and starts from a reset; the runner runs each in a
fresh simulator so memory writes of one never leak into the next.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from jaynes_hw.registers import REG_CONTROL, LayerDriver
from jaynes_hw.sim.model import NetworkModel

CLOCK_NS = 10


class Bench:
    """The design under test with its clock, cycle counter, drivers and model."""

    def __init__(self, dut):
        self.dut = dut
        self.model = NetworkModel.from_manifest(os.environ["JAYNES_HW_SIM_MANIFEST"])
        self.vectors = int(os.environ.get("JAYNES_HW_SIM_VECTORS", "8"))
        self.rng = np.random.default_rng(int(os.environ.get("JAYNES_HW_SIM_SEED", "1")))
        self.cycle = 0
        self.x_mask = (1 << self.model.act_bits) - 1

    async def start(self):
        Clock(self.dut.clk, CLOCK_NS, unit="ns").start()
        cocotb.start_soon(self._count())
        self.dut.x__valid.value = 0
        self.dut.y__ready.value = 0
        self.dut.bus__w_stb.value = 0
        self.dut.bus__r_stb.value = 0
        await self.reset()

    async def _count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def reset(self, cycles: int = 2):
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    # --- streams ------------------------------------------------------------------------

    async def send(self, values, idle: float = 0.0, accepted: list | None = None):
        """Drive ``values`` into x, one transfer each, with random idle cycles before each."""
        dut = self.dut
        for value in values:
            while self.rng.random() < idle:
                dut.x__valid.value = 0
                await RisingEdge(dut.clk)
            dut.x__valid.value = 1
            dut.x__payload.value = int(value) & self.x_mask
            while True:
                await ReadOnly()
                if dut.x__ready.value == 1:
                    break
                await RisingEdge(dut.clk)
            if accepted is not None:
                accepted.append(self.cycle)
            await RisingEdge(dut.clk)  # the transfer happens on this edge
        dut.x__valid.value = 0

    async def receive(self, count: int, backpressure: float = 0.0) -> list[int]:
        """Collect ``count`` results from y, dropping ready at random."""
        dut, received = self.dut, []
        while len(received) < count:
            dut.y__ready.value = int(self.rng.random() >= backpressure)
            await ReadOnly()
            if dut.y__valid.value == 1 and dut.y__ready.value == 1:
                received.append(dut.y__payload.value.to_signed())
            await RisingEdge(dut.clk)
        dut.y__ready.value = 0
        return received

    async def stream(self, x: np.ndarray, idle=0.0, backpressure=0.0, accepted=None):
        """Send vectors and collect their results: (vectors, n_out) array."""
        receiver = cocotb.start_soon(self.receive(x.shape[0] * self.model.n_out, backpressure))
        await self.send(x.reshape(-1), idle, accepted)
        results = await receiver
        return np.array(results, dtype=np.int64).reshape(x.shape[0], self.model.n_out)

    # --- configuration port ------------------------------------------------------------------

    async def _access(self, address: int, data: int | None) -> int:
        dut = self.dut
        dut.bus__addr.value = address
        if data is None:
            dut.bus__r_stb.value = 1
        else:
            dut.bus__w_data.value = data & 0xFFFF_FFFF
            dut.bus__w_stb.value = 1
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.bus__ack.value == 1:
                word = int(dut.bus__r_data.value)
                break
        await RisingEdge(dut.clk)
        dut.bus__w_stb.value = 0
        dut.bus__r_stb.value = 0
        return word

    async def write(self, address: int, data: int):
        await self._access(address, data)

    async def read(self, address: int) -> int:
        return await self._access(address, None)

    async def play(self, writes):
        for address, data in writes:
            await self.write(address, data)

    async def wait_commit(self, layer):
        while LayerDriver.decode_status(await self.read(layer.base_address + REG_CONTROL))[
            "commit_pending"
        ]:
            pass

    # --- results -------------------------------------------------------------------------------

    def check(self, name: str, got: np.ndarray, expected: np.ndarray):
        mismatches = np.argwhere(got != expected)
        if len(mismatches):
            v, o = mismatches[0]
            raise AssertionError(
                f"{name}: {len(mismatches)} mismatches; first at vector {v} output {o}: "
                f"hardware {got[v, o]}, reference {expected[v, o]}"
            )

    def report(self, **figures):
        path = os.environ.get("JAYNES_HW_SIM_REPORT")
        if path:
            with open(path, "a") as stream:
                stream.write(json.dumps(figures) + "\n")


@cocotb.test()
async def registers(dut):
    """The register map the manifest documents is the one in the Verilog."""
    bench = Bench(dut)
    await bench.start()
    for layer in bench.model.layers:
        register_map = layer.driver.map
        for offset, value in register_map.constant_registers().items():
            word = await bench.read(layer.base_address + offset)
            assert word == value, f"layer at {layer.base_address}: word {offset} = {word:#x}"
        if layer.config.kind == "lognormal":
            for k in range(layer.config.codebook_size):
                word = await bench.read(layer.base_address + register_map.level_address(k))
                assert word == (layer.mantissas[k] | layer.exponents[k] << 16)
        for _ in range(8):
            o = int(bench.rng.integers(layer.config.n_out))
            i = int(bench.rng.integers(layer.config.n_in))
            word = await bench.read(layer.base_address + register_map.code_address(o, i))
            assert word == int(layer.stored[o, i]) & ((1 << layer.config.code_bits) - 1)
    bench.report(scenario="registers", layers=len(bench.model.layers))


@cocotb.test()
async def random_stream(dut):
    """Random vectors with random idle cycles on x and back-pressure on y."""
    bench = Bench(dut)
    await bench.start()
    x = bench.model.random_inputs(bench.rng, bench.vectors)
    got = await bench.stream(x, idle=0.3, backpressure=0.3)
    bench.check("random_stream", got, bench.model.forward(x))
    bench.report(scenario="random_stream", vectors=len(x))


@cocotb.test()
async def full_rate(dut):
    """Back-to-back vectors with y always ready: cycles per vector must be the theory's."""
    bench = Bench(dut)
    await bench.start()
    x = bench.model.random_inputs(bench.rng, max(bench.vectors, 3))
    accepted = []
    start, wall = bench.cycle, time.perf_counter()
    got = await bench.stream(x, accepted=accepted)
    total, wall = bench.cycle - start, time.perf_counter() - wall
    bench.check("full_rate", got, bench.model.forward(x))
    starts = np.array(accepted)[:: bench.model.n_in]
    periods = np.diff(starts)
    measured = float(np.median(periods))
    theory = bench.model.vector_period
    bench.report(
        scenario="full_rate",
        vectors=len(x),
        cycles_per_vector=measured,
        theoretical_cycles_per_vector=theory,
        ratio=measured / theory,
        full_rate=bench.model.full_rate,
        total_cycles=total,
        wall_seconds=wall,
    )
    if bench.model.full_rate:
        assert (periods == theory).all(), f"periods {periods.tolist()}, theory {theory}"


def _retuned(layer):
    """A different codebook (levels in reverse bin order) and shift for ``layer``."""
    driver = layer.driver
    new_shift = max(layer.shift - 1, 0) if layer.shift else 1
    writes = driver.shift_writes(new_shift)
    if layer.config.kind == "lognormal":
        mantissas, exponents = layer.mantissas[::-1].copy(), layer.exponents[::-1].copy()
        writes = writes + driver.level_writes(mantissas, exponents)
    else:
        mantissas = exponents = None
    return writes, mantissas, exponents, new_shift


@cocotb.test()
async def retune_mid_stream(dut):
    """Re-tune one layer while vectors stream: every vector is wholly old or wholly new, in
    that order, and both sides of the switch are seen."""
    bench = Bench(dut)
    await bench.start()
    model = bench.model
    index = int(bench.rng.integers(len(model.layers)))
    layer = model.layers[index]
    writes, mantissas, exponents, new_shift = _retuned(layer)
    after = model.copy()
    after.layers[index].shift = new_shift
    if mantissas is not None:
        after.layers[index].mantissas, after.layers[index].exponents = mantissas, exponents
    x = model.random_inputs(bench.rng, max(bench.vectors, 6))
    old, new = model.forward(x), after.forward(x)

    async def host():
        for _ in range(model.vector_period * 2 + int(bench.rng.integers(model.vector_period))):
            await RisingEdge(dut.clk)
        await bench.play(writes + layer.driver.commit_writes())
        await bench.wait_commit(layer)

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
    each layer's own shift."""
    bench = Bench(dut)
    await bench.start()
    model = bench.model.copy()
    for layer in model.layers:
        config, driver = layer.config, layer.driver
        if config.kind == "int8":
            layer.stored = np.full((config.n_out, config.n_in), -128)
        else:
            top_code = (1 << config.code_bits) - 1  # sign 1, largest bin
            layer.stored = np.full((config.n_out, config.n_in), top_code)
            fmt = config.level_format
            layer.mantissas = np.full(config.codebook_size, fmt.max_mantissa)
            layer.exponents = np.full(config.codebook_size, fmt.max_exponent)
            await bench.play(driver.level_writes(layer.mantissas, layer.exponents))
        await bench.play(driver.code_writes(layer.stored))
        await bench.play(driver.commit_writes())
        await bench.wait_commit(layer)
    low, high = -(1 << (model.act_bits - 1)), (1 << (model.act_bits - 1)) - 1
    x = np.array([[low] * model.n_in, [high] * model.n_in, [low, high] * (model.n_in // 2)
                  + [low] * (model.n_in % 2)])  # fmt: skip
    got = await bench.stream(x)
    bench.check("extremes (own shifts)", got, model.forward(x))
    for layer in model.layers:
        layer.shift = 0
        await bench.play(layer.driver.shift_writes(0) + layer.driver.commit_writes())
        await bench.wait_commit(layer)
    got = await bench.stream(x)
    bench.check("extremes (shift 0)", got, model.forward(x))
    bench.report(scenario="extremes", vectors=2 * len(x))


@cocotb.test()
async def reset_mid_vector(dut):
    """Reset with half a vector inside: afterwards the network computes fresh vectors exactly,
    with nothing left over from the interrupted one."""
    bench = Bench(dut)
    await bench.start()
    x = bench.model.random_inputs(bench.rng, max(bench.vectors, 2))
    half = x[0, : max(bench.model.n_in // 2, 1)]
    await bench.send(half, idle=0.2)
    for _ in range(int(bench.rng.integers(1, 20))):
        await RisingEdge(dut.clk)
    await bench.reset()
    got = await bench.stream(x, idle=0.2, backpressure=0.2)
    bench.check("reset_mid_vector", got, bench.model.forward(x))
    for _ in range(bench.model.vector_period):  # nothing more may come out
        await ReadOnly()
        assert dut.y__valid.value == 0, "a result after the last expected one"
        await RisingEdge(dut.clk)
    bench.report(scenario="reset_mid_vector", vectors=len(x))


@cocotb.test()
async def playback(dut):
    """Phases of register writes, then input vectors, on one running design (no reset between
    phases); records every output, the cycles and the vector period for the caller to judge."""
    bench = Bench(dut)
    await bench.start()
    script = np.load(os.environ["JAYNES_HW_SIM_PLAYBACK"])
    recorded = {}
    for n in range(int(script["phases"])):
        await bench.play(script[f"writes_{n}"].tolist())
        for layer in bench.model.layers:
            await bench.wait_commit(layer)
        accepted, start = [], bench.cycle
        recorded[f"outputs_{n}"] = await bench.stream(script[f"inputs_{n}"], accepted=accepted)
        recorded[f"cycles_{n}"] = bench.cycle - start
        starts = np.array(accepted)[:: bench.model.n_in]
        recorded[f"period_{n}"] = float(np.median(np.diff(starts))) if len(starts) > 1 else 0.0
    np.savez(os.environ["JAYNES_HW_SIM_RECORDED"], **recorded)
