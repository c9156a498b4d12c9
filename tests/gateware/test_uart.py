"""The 8N1 UART receiver and transmitter in the Amaranth simulator."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module

from jaynes_hw.gateware.uart import UARTReceiver, UARTTransmitter
from tests.helpers.amaranth_harness import run


@pytest.mark.parametrize("divisor", [4, 7, 12])
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


def test_receiver_drops_a_byte_without_stop_bit():
    divisor = 6
    receiver = UARTReceiver(divisor)
    received = []

    def frame(byte, stop):
        return [0, *((byte >> i) & 1 for i in range(8)), stop]

    bits = [*frame(0x5A, 0), 1, 1, *frame(0xC3, 1), 1, 1]

    async def line(ctx):
        for bit in bits:
            ctx.set(receiver.rx, bit)
            await ctx.tick().repeat(divisor)

    async def collect(ctx):
        for _ in range(len(bits) * divisor + 8):
            _, _, strobe, data = await ctx.tick().sample(receiver.strobe, receiver.data)
            if strobe:
                received.append(int(data))

    run(receiver, line, collect)
    assert received == [0xC3]
