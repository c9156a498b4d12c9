# amaranth: UnusedElaboratable=no
# (the refusal tests construct FIFOs that are never elaborated)
"""StreamFIFO and SkidBuffer in the Amaranth simulator: order kept, nothing lost or
duplicated under random stalls on both sides, capacity exactly ``depth`` (two for the skid
buffer), one entry a cycle, and the constructors' refusals; ``Sliced`` copies of each behave
cycle for cycle as the whole buffer."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from amaranth.hdl import Module

from jaynes_hw.gateware.stream_fifo import SkidBuffer, Sliced, StreamFIFO
from tests.helpers.amaranth_harness import receive, run, send


@pytest.mark.parametrize("depth", [2, 3, 8, 33, "skid"])
@pytest.mark.parametrize(
    ("write_stall", "read_stall"), [(0.0, 0.0), (0.4, 0.4), (0.8, 0.1), (0.1, 0.8)]
)
def test_order_is_kept_under_random_stalls(depth, write_stall, read_stall):
    seed = len(str(depth)) * 100 + int(write_stall * 10) + int(read_stall * 1000)
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, 300)
    fifo = SkidBuffer(8) if depth == "skid" else StreamFIFO(8, depth)
    received = []

    async def producer(ctx):
        await send(ctx, fifo.w, values, rng, write_stall)

    async def consumer(ctx):
        received.extend(await receive(ctx, fifo.r, len(values), rng, read_stall))

    run(fifo, producer, consumer)
    assert received == values.tolist()


@pytest.mark.parametrize("depth", [2, 5, 16, "skid"])
def test_holds_exactly_depth_entries_and_streams_one_per_cycle(depth):
    fifo = SkidBuffer(8) if depth == "skid" else StreamFIFO(8, depth)
    depth = 2 if depth == "skid" else depth
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

    run(fifo, bench)
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
    if width < 1:
        with pytest.raises(TypeError, match=message):
            SkidBuffer(width)


def test_skid_buffer_passes_one_entry_a_cycle_with_a_cycle_of_latency():
    """Both sides always willing: every entry comes out the cycle after it went in."""
    buffer = SkidBuffer(8)
    out_cycles = []

    async def bench(ctx):
        ctx.set(buffer.r.ready, 1)
        ctx.set(buffer.w.valid, 1)
        for cycle in range(12):
            ctx.set(buffer.w.payload, cycle)
            _, _, ready, valid, payload = await ctx.tick().sample(
                buffer.w.ready, buffer.r.valid, buffer.r.payload
            )
            assert ready
            if valid:
                out_cycles.append((cycle, payload))

    run(buffer, bench)
    assert out_cycles == [(cycle, cycle - 1) for cycle in range(1, 12)]


@pytest.mark.parametrize(
    "make",
    [SkidBuffer, functools.partial(StreamFIFO, depth=3), functools.partial(StreamFIFO, depth=6)],
)
@pytest.mark.parametrize(("width", "slice_bits"), [(70, 32), (24, 32), (9, 1)])
def test_sliced_buffer_moves_as_the_whole_buffer_every_cycle(make, width, slice_bits):
    """The same random offers and stalls into a sliced buffer and an unsliced one: every
    cycle the same ``w.ready``, ``r.valid`` and ``r.payload`` (the last slice narrower when
    ``slice_bits`` does not divide ``width``)."""
    rng = np.random.default_rng(width * 100 + slice_bits)
    whole, sliced = make(width), Sliced(width, slice_bits, make)
    m = Module()
    m.submodules.whole, m.submodules.sliced = whole, sliced
    cycles = 400

    async def bench(ctx):
        seen = 0
        for _ in range(cycles):
            payload = int.from_bytes(rng.bytes(9)) & ((1 << width) - 1)
            valid, ready = bool(rng.random() < 0.6), bool(rng.random() < 0.6)
            for buffer in (whole, sliced):
                ctx.set(buffer.w.valid, valid)
                ctx.set(buffer.w.payload, payload)
                ctx.set(buffer.r.ready, ready)
            await ctx.delay(1e-9)
            states = [
                (
                    ctx.get(b.w.ready),
                    ctx.get(b.r.valid),
                    ctx.get(b.r.valid) and ctx.get(b.r.payload),
                )
                for b in (whole, sliced)
            ]
            assert states[0] == states[1]
            seen += bool(states[0][1] and ready)
            await ctx.tick()
        assert seen > cycles // 5  # entries did flow

    run(m, bench)


def test_sliced_refuses_bad_parameters():
    with pytest.raises(TypeError, match="slice_bits must be a positive integer, not 0"):
        Sliced(8, 0, SkidBuffer)
