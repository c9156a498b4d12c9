"""Amaranth-simulator testbench pieces: stream producer/consumer with random stalls, bus
master, and a runner. Producer, consumer and host run as separate testbenches."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

CLOCK_PERIOD = 1e-8


async def send(ctx, port, values, rng: np.random.Generator | None = None, stall=0.0):
    """Drive ``values`` into a stream, idling a random number of cycles before each one."""
    for value in values:
        while rng is not None and rng.random() < stall:
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(port.valid, 1)
        ctx.set(port.payload, int(value))
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def receive(ctx, port, count, rng: np.random.Generator | None = None, stall=0.0, log=None):
    """Collect ``count`` values from a stream, dropping ``ready`` at random."""
    received = []
    cycle = 0
    while len(received) < count:
        ready = rng is None or rng.random() >= stall
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if ready and valid:
            received.append(payload)
            if log is not None:
                log.append(cycle)
        cycle += 1
    ctx.set(port.ready, 0)
    return received


class BusMaster:
    """Word reads and writes on a ``ConfigBus``: a strobe held until ``ack``."""

    def __init__(self, bus):
        self.bus = bus

    async def write(self, ctx, address: int, data: int):
        ctx.set(self.bus.addr, address)
        ctx.set(self.bus.w_data, data & 0xFFFF_FFFF)
        ctx.set(self.bus.w_stb, 1)
        await ctx.tick().until(self.bus.ack)
        ctx.set(self.bus.w_stb, 0)

    async def read(self, ctx, address: int) -> int:
        ctx.set(self.bus.addr, address)
        ctx.set(self.bus.r_stb, 1)
        (data,) = await ctx.tick().sample(self.bus.r_data).until(self.bus.ack)
        ctx.set(self.bus.r_stb, 0)
        return int(data)

    async def play(self, ctx, writes):
        for address, data in writes:
            await self.write(ctx, address, data)


def run(dut, *testbenches, deadline_cycles: int = 200_000) -> None:
    """Run testbenches to completion; fail (rather than hang) if they are still running after
    ``deadline_cycles``."""
    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    finished = []

    def counted(testbench):
        async def wrapper(ctx):
            await testbench(ctx)
            finished.append(testbench)

        return wrapper

    for testbench in testbenches:
        sim.add_testbench(counted(testbench))
    chunk = 1000
    for start in range(0, deadline_cycles, chunk):
        sim.run_until((start + chunk) * CLOCK_PERIOD)
        if len(finished) == len(testbenches):
            return
    raise AssertionError(f"the testbenches did not finish within {deadline_cycles} cycles")
