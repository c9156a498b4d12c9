# amaranth: UnusedElaboratable=no
# (the refusal tests construct FIFOs that are never elaborated)
"""StreamFIFO in the Amaranth simulator: order kept, nothing lost or duplicated under random
stalls on both sides, capacity exactly ``depth``, and the constructor's refusals."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from jaynes_hw.gateware.stream_fifo import StreamFIFO
from tests.helpers.amaranth_harness import CLOCK_PERIOD, receive, run, send


@pytest.mark.parametrize("depth", [2, 3, 8, 33])
@pytest.mark.parametrize(
    ("write_stall", "read_stall"), [(0.0, 0.0), (0.4, 0.4), (0.8, 0.1), (0.1, 0.8)]
)
def test_order_is_kept_under_random_stalls(depth, write_stall, read_stall):
    rng = np.random.default_rng(depth * 100 + int(write_stall * 10) + int(read_stall * 1000))
    values = rng.integers(0, 256, 300)
    fifo = StreamFIFO(8, depth)
    received = []

    async def producer(ctx):
        await send(ctx, fifo.w, values, rng, write_stall)

    async def consumer(ctx):
        received.extend(await receive(ctx, fifo.r, len(values), rng, read_stall))

    run(fifo, producer, consumer)
    assert received == values.tolist()


@pytest.mark.parametrize("depth", [2, 5, 16])
def test_holds_exactly_depth_entries_and_streams_one_per_cycle(depth):
    fifo = StreamFIFO(8, depth)
    taken, read_cycles = [], []

    async def bench(ctx):
        ctx.set(fifo.r.ready, 0)
        ctx.set(fifo.w.valid, 1)
        for _ in range(3 * depth + 3):  # offer values for longer than they fit, nobody reading
            value = len(taken)
            ctx.set(fifo.w.payload, value)
            _, _, ready = await ctx.tick().sample(fifo.w.ready)
            if ready:
                taken.append(value)
        ctx.set(fifo.w.valid, 0)
        ctx.set(fifo.r.ready, 1)
        for cycle in range(depth + 4):
            _, _, valid, payload = await ctx.tick().sample(fifo.r.valid, fifo.r.payload)
            if valid:
                read_cycles.append((cycle, payload))

    sim = Simulator(fifo)
    sim.add_clock(CLOCK_PERIOD)
    sim.add_testbench(bench)
    sim.run()
    assert taken == list(range(depth))
    assert [payload for _, payload in read_cycles] == list(range(depth))
    cycles = [cycle for cycle, _ in read_cycles]
    assert cycles == list(range(cycles[0], cycles[0] + depth))  # back to back


@pytest.mark.parametrize(
    ("width", "depth", "message"),
    [
        (0, 4, "width must be a positive integer, not 0"),
        (8, 1, "depth must be an integer of at least 2, not 1"),
        (8, 2.0, "depth must be an integer of at least 2, not 2.0"),
    ],
)
def test_refuses_bad_parameters(width, depth, message):
    with pytest.raises(TypeError, match=message):
        StreamFIFO(width, depth)
