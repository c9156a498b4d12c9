"""The 8N1 UART receiver and transmitter in the Amaranth simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module

from jaynes_hw.gateware.uart import UARTReceiver, UARTTransmitter
from tests.helpers.amaranth_harness import run


@pytest.mark.parametrize("divisor", [8, 11, 17])
def test_uart_transmitter_to_receiver(divisor):
    rng = np.random.default_rng(divisor)
    sent = [int(b) for b in rng.integers(0, 256, size=12)]
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor)
    m.submodules.rx = rx = UARTReceiver(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []

    async def sender(ctx):
        for byte in sent:
            ctx.set(tx.bytes.valid, 1)
            ctx.set(tx.bytes.payload, byte)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)

    async def receiver(ctx):
        while len(received) < len(sent):
            _, _, strobe, data = await ctx.tick().sample(rx.strobe, rx.data)
            if strobe:
                received.append(int(data))

    run(m, sender, receiver, deadline_cycles=20 * divisor * len(sent))
    assert received == sent


def receive(levels: list[int]) -> tuple[list[int], int]:
    """Drive a receiver (8 cycles a bit) with one line level a cycle; return the bytes it
    delivered and how many framing errors it flagged."""
    receiver = UARTReceiver(DIVISOR)
    received, framing_errors = [], []

    async def line(ctx):
        for level in levels:
            ctx.set(receiver.rx, level)
            await ctx.tick()

    async def collect(ctx):
        for _ in range(len(levels) + 8):
            _, _, strobe, error, data = await ctx.tick().sample(
                receiver.strobe, receiver.framing_error, receiver.data
            )
            if strobe:
                received.append(int(data))
            framing_errors.extend([1] if error else [])

    run(receiver, line, collect)
    return received, len(framing_errors)


DIVISOR = 8


def frame(byte: int, stop: int = 1) -> list[int]:
    """A byte's line levels, cycle by cycle."""
    bits = [0, *((byte >> i) & 1 for i in range(8)), stop]
    return [bit for bit in bits for _ in range(DIVISOR)]


IDLE = [1] * (2 * DIVISOR)


def test_receiver_drops_a_byte_without_stop_bit_and_flags_it():
    received, framing_errors = receive([*IDLE, *frame(0x5A, stop=0), *IDLE, *frame(0xC3), *IDLE])
    assert received == [0xC3]
    assert framing_errors == 1


def test_one_cycle_glitches_never_reach_the_decoder():
    levels = frame(0xA5)
    for cycle in range(3, len(levels), 7):  # a flipped cycle in every bit, here and there
        levels[cycle] ^= 1
    received, framing_errors = receive([*IDLE, *levels, *IDLE])
    assert received == [0xA5] and framing_errors == 0


def test_a_glitch_shorter_than_half_a_bit_on_an_idle_line_starts_no_byte():
    glitch = [0] * (DIVISOR // 2 - 1)
    received, framing_errors = receive([*IDLE, *glitch, *IDLE, *frame(0x3C), *IDLE])
    assert received == [0x3C] and framing_errors == 0
