"""Buffers between two streams, built for the clock: a first-in first-out queue whose flags
are flip-flops, a skid buffer that cuts the consumer's ``ready`` off from the producer, and
``Sliced``, which builds a wide one from narrow copies so that no control flag drives the
enables of hundreds of payload flip-flops."""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.gateware.block_ram import IN_BLOCK_RAM

__all__ = ["SkidBuffer", "Sliced", "StreamFIFO"]


def buffer_ports(width: int) -> dict:
    """A buffer's ports for ``width`` payload bits (``TypeError`` unless a positive
    integer): stream ``w`` in, stream ``r`` out."""
    if not isinstance(width, int) or width < 1:
        raise TypeError(f"width must be a positive integer, not {width!r}")
    return {"w": In(stream.Signature(width)), "r": Out(stream.Signature(width))}


class StreamFIFO(wiring.Component):
    """A stream queue of ``depth`` entries: ``depth - 1`` in a memory (block RAM on an
    FPGA) and one in the output register.

    Amaranth's ``SyncFIFOBuffered`` decides a read through its level counter's comparisons,
    several logic levels behind its ``r_en``; here the memory's fill state is kept as
    registered flags (empty, full) updated from comparisons of the *registered* fill count,
    so ``w.ready`` and ``r.valid`` are flip-flops and ``r.ready`` only enables registers.

    Parameters
    ----------
    width : int
        Payload bits.
    depth : int
        Entries held, at least 2.
    block_ram : bool
        Mark the memory ``ram_style = "block"`` (``jaynes_hw.gateware.block_ram``).

    Attributes
    ----------
    w : In(stream.Signature(width))
        Entries in; ``w.ready`` is low while the memory is full.
    r : Out(stream.Signature(width))
        Entries out, in order.

    Raises
    ------
    TypeError
        If ``width`` or ``depth`` is not an integer in range.

    Latency: an entry written into an empty queue is on ``r`` two cycles later.
    Throughput: one entry per cycle in and out from depth 3; at depth 2 one every other
    cycle (the full flag is registered, so the memory's one slot frees a cycle late).
    """

    def __init__(self, width: int, depth: int, *, block_ram: bool = False):
        if not isinstance(depth, int) or depth < 2:
            raise TypeError(f"depth must be an integer of at least 2, not {depth!r}")
        self.width, self.depth, self.block_ram = width, depth, block_ram
        super().__init__(buffer_ports(width))

    def elaborate(self, platform):
        m = Module()
        slots = self.depth - 1  # memory entries; the output register holds one more
        m.submodules.storage = storage = Memory(
            shape=self.width,
            depth=slots,
            init=[],
            attrs=IN_BLOCK_RAM if self.block_ram else None,
        )
        write_port = storage.write_port()
        read_port = storage.read_port(transparent_for=())

        write_at = Signal(range(slots))
        read_at = Signal(range(slots))
        fill = Signal(range(slots + 1))  # entries in the memory
        empty = Signal(init=1)  # fill == 0
        full = Signal(init=0)  # fill == slots
        out_valid = Signal()

        push = Signal()
        fetch = Signal()  # the memory's oldest entry moves into the output register
        m.d.comb += [
            self.w.ready.eq(~full),
            push.eq(self.w.valid & ~full),
            fetch.eq(~empty & (~out_valid | self.r.ready)),
            self.r.valid.eq(out_valid),
            self.r.payload.eq(read_port.data),
            write_port.addr.eq(write_at),
            write_port.data.eq(self.w.payload),
            write_port.en.eq(push),
            read_port.addr.eq(read_at),
            read_port.en.eq(fetch),
        ]

        def following(pointer):
            return Mux(pointer == slots - 1, 0, pointer + 1)

        with m.If(push):
            m.d.sync += write_at.eq(following(write_at))
        with m.If(fetch):
            m.d.sync += [read_at.eq(following(read_at)), out_valid.eq(1)]
        with m.Elif(self.r.ready):
            m.d.sync += out_valid.eq(0)

        # The flags follow the count; their comparisons look only at the registered count.
        with m.If(push & ~fetch):
            m.d.sync += [fill.eq(fill + 1), empty.eq(0), full.eq(fill == slots - 1)]
        with m.Elif(fetch & ~push):
            m.d.sync += [fill.eq(fill - 1), empty.eq(fill == 1), full.eq(0)]
        return m


class SkidBuffer(wiring.Component):
    """A two-entry stream buffer that cuts every combinational path between its sides:
    ``w.ready`` and ``r.valid`` are flip-flops, and ``r.ready`` enables registers through
    one gate. Put it where a consumer's ``ready`` comes late (a core's stall) and the
    producer's control is deep (a FIFO's pointers).

    Parameters
    ----------
    width : int
        Payload bits.

    Attributes
    ----------
    w : In(stream.Signature(width))
        Entries in; ``w.ready`` falls a cycle after the output stalls with an entry waiting.
    r : Out(stream.Signature(width))
        Entries out, in order.

    Latency: one cycle (an entry written is on ``r`` the next cycle).
    Throughput: one entry per cycle in and out.
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__(buffer_ports(width))

    def elaborate(self, platform):
        m = Module()
        # the output register, and the skid register that catches the entry offered in the
        # cycle the output stalled (``w.ready`` was still high)
        out_valid, skid_valid = Signal(), Signal()
        out_payload = Signal(self.width, reset_less=True)
        skid_payload = Signal(self.width, reset_less=True)
        m.d.comb += [
            self.w.ready.eq(~skid_valid),
            self.r.valid.eq(out_valid),
            self.r.payload.eq(out_payload),
        ]
        # Each flag's next value is one expression of four bits (one iCE40 LUT ahead of a
        # plain flip-flop), and the skid register loads whenever it is empty: ``r.ready``
        # reaches the two flags and the output register's enable only.
        output_free = ~out_valid | self.r.ready  # the output register is free next cycle
        m.d.sync += [
            out_valid.eq(Mux(output_free, skid_valid | self.w.valid, out_valid)),
            skid_valid.eq(~output_free & (skid_valid | self.w.valid)),
        ]
        with m.If(output_free):
            m.d.sync += out_payload.eq(Mux(skid_valid, skid_payload, self.w.payload))
        with m.If(~skid_valid):
            m.d.sync += skid_payload.eq(self.w.payload)
        return m


class Sliced(wiring.Component):
    """A buffer of ``width`` payload bits made of narrower copies of one buffer, each
    carrying ``slice_bits`` of the payload with control flip-flops of its own.

    A buffer's output register loads under one enable (a queue's fetch, a skid buffer's
    output free): across a 256-bit vector that one net reaches 256 flip-flops spread over the
    die, the slowest route of a wide unrolled design (9.7 ns of routing on the ECP5-85F).
    Each copy's enable reaches only its slice, placed beside it. The copies see the same
    ``valid`` and ``ready`` and so hold the same state every cycle; the first copy's flags
    speak for all.

    Parameters
    ----------
    width : int
        Payload bits.
    slice_bits : int
        Payload bits per copy (the last copy takes what is left).
    make : callable
        ``make(bits)`` builds one copy: a component with streams ``w`` (in) and ``r`` (out)
        of ``bits`` payload bits, such as ``StreamFIFO`` or ``SkidBuffer``.

    Attributes
    ----------
    w : In(stream.Signature(width))
    r : Out(stream.Signature(width))
        As the copies': the latency and throughput of one.
    """

    def __init__(self, width: int, slice_bits: int, make: Callable[[int], wiring.Component]):
        if not isinstance(slice_bits, int) or slice_bits < 1:
            raise TypeError(f"slice_bits must be a positive integer, not {slice_bits!r}")
        self.width, self.slice_bits, self._make = width, slice_bits, make
        super().__init__(buffer_ports(width))

    def elaborate(self, platform):
        m = Module()
        copies = []
        for index, low in enumerate(range(0, self.width, self.slice_bits)):
            high = min(low + self.slice_bits, self.width)
            m.submodules[f"slice{index}"] = copy = self._make(high - low)
            m.d.comb += [
                copy.w.payload.eq(self.w.payload[low:high]),
                copy.w.valid.eq(self.w.valid),
                copy.r.ready.eq(self.r.ready),
            ]
            copies.append(copy)
        m.d.comb += [
            self.w.ready.eq(copies[0].w.ready),
            self.r.valid.eq(copies[0].r.valid),
            self.r.payload.eq(Cat(copy.r.payload for copy in copies)),
        ]
        return m
