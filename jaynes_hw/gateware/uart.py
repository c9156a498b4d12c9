"""8N1 UART receiver and transmitter (one start bit, 8 data bits LSB first, one stop bit).

``divisor`` is clock cycles per bit: ``round(clock_hz / baud)``; the receiver tolerates the
usual few percent of rate mismatch because it samples each bit in its middle (from 8 cycles a
bit, the three-sample vote stays inside the bit).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import MIN_CYCLES_PER_BIT


def _check_divisor(divisor: int) -> int:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_CYCLES_PER_BIT:
        raise ValueError(
            f"UART divisor must be an integer >= {MIN_CYCLES_PER_BIT} cycles per bit, "
            f"not {divisor!r}"
        )
    return divisor


class UARTReceiver(wiring.Component):
    """Bytes from a serial line.

    Attributes
    ----------
    rx : In(1)
        The line (idle high); synchronized here, so it may come straight from a pin.
    data : Out(8)
        The last byte received, valid in the cycle ``strobe`` is 1.
    strobe : Out(1)
        One cycle per byte whose stop bit was 1.
    framing_error : Out(1)
        One cycle per byte whose stop bit was 0 (the byte is not delivered).
    busy : Out(1)
        The line is low or a byte is being received: 0 while the line is idle.

    Noise: the line is the majority of its last three samples, so a glitch of one clock
    cycle never reaches the decoder, and a start bit must still be low in its middle, so a
    glitch shorter than half a bit on an idle line starts no byte.

    Latency: ``strobe`` rises in the middle of the stop bit, ~9.5 bit times after the start
    edge. There is no back-pressure: the consumer takes every byte in the strobe cycle.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__(
            {
                "rx": In(1, init=1),
                "data": Out(8),
                "strobe": Out(1),
                "framing_error": Out(1),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        synchronized = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, synchronized, init=1)
        samples = Signal(3, init=0b111)
        m.d.sync += samples.eq(Cat(synchronized, samples[:2]))
        line = Signal(init=1)  # the majority of the last three samples
        m.d.sync += line.eq(
            (samples[0] & samples[1]) | (samples[1] & samples[2]) | (samples[0] & samples[2])
        )

        timer = Signal(range(self.divisor))
        bits_left = Signal(range(10))
        shift = Signal(9)  # 8 data bits then the stop bit, shifted in from the top
        m.d.sync += [self.strobe.eq(0), self.framing_error.eq(0)]
        m.d.comb += self.data.eq(shift[:8])
        with m.FSM():
            with m.State("idle"):
                m.d.comb += self.busy.eq(~line)
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "start"
            with m.State("start"):  # the middle of the start bit: still low, or noise
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "idle"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits_left.eq(9)]
                    m.next = "bits"
            with m.State("bits"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [
                        shift.eq(Cat(shift[1:], line)),
                        timer.eq(self.divisor - 1),
                        bits_left.eq(bits_left - 1),
                    ]
                    with m.If(bits_left == 1):
                        m.d.sync += [self.strobe.eq(line), self.framing_error.eq(~line)]
                        # after a framing error, wait for the line to idle before a start
                        m.next = "wait-idle"
            with m.State("wait-idle"):
                m.d.comb += self.busy.eq(~line)
                with m.If(line):
                    m.next = "idle"
        return m


class UARTTransmitter(wiring.Component):
    """A serial line from a stream of bytes.

    Attributes
    ----------
    bytes : In(stream.Signature(8))
        Bytes to send; one is taken whenever the line is idle.
    tx : Out(1)
        The line (idle high).

    Throughput: one byte per 10 bit times.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({"bytes": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits_left = Signal(range(11))
        frame = Signal(10, init=0x3FF)  # stop, data 7..0, start: shifted out from the bottom
        m.d.comb += [self.tx.eq(frame[0]), self.bytes.ready.eq(bits_left == 0)]
        with m.If(bits_left == 0):
            with m.If(self.bytes.valid):
                m.d.sync += [
                    frame.eq(1 << 9 | self.bytes.payload << 1),
                    bits_left.eq(10),
                    timer.eq(self.divisor - 1),
                ]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [
                frame.eq(1 << 9 | frame >> 1),
                bits_left.eq(bits_left - 1),
                timer.eq(self.divisor - 1),
            ]
        return m
