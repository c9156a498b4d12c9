"""Convolution and pooling on channel-last pixel streams (``jaynes_hw.contract.geometry``).

- ``WindowGenerator``: line buffers in block RAM that turn an image, one value per transfer,
  into every output position's receptive field, one value per transfer, zeros for padding;
- ``PoolReducer``: the max or the rounded-shift average of each run of window values;
- ``ConvLayer``: a window generator feeding a folded layer core (the convolution's weights
  are a dense layer of codes over the receptive field), optionally followed by a pooling
  window generator and reducer. Its registers are the core's.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.geometry import ConvWindow, Pooling
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.core import ConfiguredLayer
from jaynes_hw.support.errors import UserError

__all__ = ["ConvLayer", "PoolReducer", "WindowGenerator"]


class _NestedCounters:
    """Counters that step like nested loops, the first one innermost: ``step`` adds one to
    the innermost and carries; ``last`` is high on the final combination. A loop of one
    iteration is the constant 0 (no zero-width register)."""

    def __init__(self, m: Module, limits: list[tuple[str, int]]):
        self.m = m
        self.counters = [
            (Signal(range(limit), name=name) if limit > 1 else Const(0, 1), limit)
            for name, limit in limits
        ]
        self.at_end = [counter == limit - 1 for counter, limit in self.counters]
        self.last = Signal(name="window_last")
        m.d.comb += self.last.eq(_all(self.at_end))

    def __getitem__(self, index: int):
        return self.counters[index][0]

    def step(self) -> None:
        """Advance the counters once, in the current ``m.If`` (all wrap to 0 after
        ``last``)."""
        inner_at_end = []
        for (counter, limit), at_end in zip(self.counters, self.at_end, strict=True):
            if limit > 1:
                with self.m.If(_all(inner_at_end)):
                    self.m.d.sync += counter.eq(Mux(at_end, 0, counter + 1))
            inner_at_end.append(at_end)


def _at_least_one_bit(limit: int) -> range:
    """The range of a counter below ``limit``, one bit wide at least (a counter of one value
    stays 0; Verilog has no zero-width register)."""
    return range(max(limit, 2))


def _all(flags) -> object:
    result = 1
    for flag in flags:
        result = result & flag
    return result


class WindowGenerator(wiring.Component):
    """An image in, its receptive fields out (``ConvWindow.windows`` is the reference).

    The image arrives row by row into ``kernel_y + stride_y`` line buffers (one memory of
    that many rows of ``width * channels`` values, row r in slot r mod the ring's size).
    Once the rows an output row needs are in, that row's windows are read out position by
    position, with zeros for padding; meanwhile the rows the next output row adds load into
    the spare slots, never over a row being read.

    Parameters
    ----------
    window : ConvWindow
    bits : int
        Signed value width.
    channels_outer : bool
        Window order (channel, kernel row, kernel column) instead of the convolution's
        (kernel row, kernel column, channel): each channel's window values in a run, as the
        pooling reducer takes them.

    Attributes
    ----------
    x : In(stream.Signature(signed(bits)))
        The image, channel-last, one value per transfer.
    y : Out(stream.Signature(signed(bits)))
        The receptive fields, one value per transfer, ``window_size`` per output position.

    Throughput, ``x`` always valid and ``y`` always ready: after the rows of an image's first
    output row have loaded (the next image's wait for the last output row's read), an
    output row every ``out_width * window_size + 2`` cycles, or its new rows'
    ``stride_y * width * channels`` values if that is longer; at most ``values_in +
    positions * window_size + 2 * out_height + 1`` cycles an image (a 2x2 stride-2 pool of
    an 8x8x8 image: 649 cycles, against 1,025 in turns). Latency: a window value leaves one
    cycle after it is read. Every handshake decision is a comparison of flip-flops.
    """

    def __init__(self, window: ConvWindow, bits: int, *, channels_outer: bool = False):
        self.window, self.bits, self.channels_outer = window, bits, channels_outer
        super().__init__(
            {"x": In(stream.Signature(signed(bits))), "y": Out(stream.Signature(signed(bits)))}
        )

    def elaborate(self, platform):
        g = self.window
        m = Module()
        row_values = g.width * g.channels
        # kernel_y rows for the output row being read, stride_y more for the rows the next
        # output row adds: those load while the current one is read
        ring = g.kernel_y + g.stride_y
        m.submodules.lines = lines = Memory(
            shape=signed(self.bits), depth=ring * row_values, init=[]
        )
        write = lines.write_port()
        read = lines.read_port(transparent_for=())

        # Loading: rows_loaded rows of the image are in, the next one goes to load_slot.
        rows_loaded = Signal(range(g.height + 1))
        load_slot = Signal(_at_least_one_bit(ring))
        load_position = Signal(_at_least_one_bit(row_values))
        # Reading: output row out_y, whose first image row (row_top, may be negative for the
        # top padding) is in slot first_slot; finished once every output row is read.
        out_y = Signal(_at_least_one_bit(g.out_height))
        first_slot = Signal(_at_least_one_bit(ring), init=(-g.pad_top) % ring)
        finished = Signal()
        # image coordinates, from -pad to size + kernel + stride, signed
        reach = max(g.height, g.width) + 2 * max(g.kernel_y, g.kernel_x) + g.stride_y
        coordinate = signed(reach.bit_length() + 1)
        row_top = Signal(coordinate)
        m.d.comb += row_top.eq(out_y * g.stride_y - g.pad_top)

        # Thresholds on rows_loaded that depend only on the output row (out_y, finished),
        # registered from it, so loading is one comparison on flip-flops and reading a
        # flip-flop (``reading_late``, the comparison a cycle late); they lag a change of the
        # output row. ``load_limit`` only grows within an image and starts above 0, so its
        # lag only delays a load. ``needed`` grows too, so reading waits out the two cycles
        # after each change (``row_changed``, then ``reading_late`` computed under it);
        # rows_loaded only grows, so the late comparison only delays a read.
        needed = Signal(range(g.height + 1))  # rows the output row being read needs
        load_limit = Signal(coordinate)  # rows that may be in: none over a row being read
        row_changed = Signal(init=1)
        rows_wanted = row_top + g.kernel_y
        with m.If(finished | (rows_wanted >= g.height)):
            m.d.sync += needed.eq(g.height)
        with m.Else():
            m.d.sync += needed.eq(rows_wanted)
        # the next row overwrites row rows_loaded - ring: only below the rows being read
        with m.If(finished | (row_top + ring >= g.height)):
            m.d.sync += load_limit.eq(g.height)
        with m.Else():
            m.d.sync += load_limit.eq(row_top + ring)
        loading = Signal()
        reading = Signal()
        reading_late = Signal()
        m.d.comb += [
            loading.eq(rows_loaded < load_limit),
            reading.eq(reading_late & ~row_changed),
        ]
        m.d.sync += [
            row_changed.eq(0),
            reading_late.eq(~finished & ~row_changed & (rows_loaded >= needed)),
        ]

        # -- loading ------------------------------------------------------------------------
        m.d.comb += [
            self.x.ready.eq(loading),
            write.addr.eq(load_slot * row_values + load_position),
            write.data.eq(self.x.payload),
            write.en.eq(self.x.valid & loading),
        ]
        with m.If(self.x.valid & loading):
            with m.If(load_position == row_values - 1):
                m.d.sync += [
                    load_position.eq(0),
                    rows_loaded.eq(rows_loaded + 1),
                    load_slot.eq(Mux(load_slot == ring - 1, 0, load_slot + 1)),
                ]
            with m.Else():
                m.d.sync += load_position.eq(load_position + 1)
        with m.If(finished & (rows_loaded == g.height)):  # all in and read: the next image
            m.d.sync += [
                rows_loaded.eq(0),
                load_slot.eq(0),
                out_y.eq(0),
                first_slot.eq((-g.pad_top) % ring),
                finished.eq(0),
                row_changed.eq(1),
            ]

        # -- reading ------------------------------------------------------------------------
        loops = [("kernel_x", g.kernel_x), ("kernel_y", g.kernel_y), ("channel", g.channels)]
        if not self.channels_outer:
            loops = [loops[2], loops[0], loops[1]]
        counters = _NestedCounters(m, [*loops, ("out_x", g.out_width)])
        by_name = {name: counters[index] for index, (name, _) in enumerate(loops)}
        kernel_x, kernel_y, channel = by_name["kernel_x"], by_name["kernel_y"], by_name["channel"]
        out_x = counters[3]
        image_y = Signal(coordinate)
        image_x = Signal(coordinate)
        slot_sum = Signal(range(2 * ring))
        slot = Signal(_at_least_one_bit(ring))
        inside = Signal()
        m.d.comb += [
            image_y.eq(row_top + kernel_y),
            image_x.eq(out_x * g.stride_x - g.pad_left + kernel_x),
            slot_sum.eq(first_slot + kernel_y),
            slot.eq(Mux(slot_sum >= ring, slot_sum - ring, slot_sum)),
            inside.eq((image_y >= 0) & (image_y < g.height) & (image_x >= 0) & (image_x < g.width)),
        ]
        out_valid = Signal()
        out_inside = Signal()
        advance = ~out_valid | self.y.ready
        issue = reading & advance
        m.d.comb += [
            read.en.eq(advance),
            read.addr.eq((slot * g.width + image_x[: max(1, (g.width - 1).bit_length())])
                         * g.channels + channel),
            self.y.valid.eq(out_valid),
            self.y.payload.eq(Mux(out_inside, read.data, 0)),
        ]  # fmt: skip
        with m.If(advance):
            m.d.sync += [out_valid.eq(issue), out_inside.eq(inside)]
        with m.If(issue):
            counters.step()
            with m.If(counters.last):  # the output row is read out
                advanced = first_slot + g.stride_y % ring
                m.d.sync += [
                    out_y.eq(Mux(out_y == g.out_height - 1, 0, out_y + 1)),
                    first_slot.eq(Mux(advanced >= ring, advanced - ring, advanced)),
                    finished.eq(out_y == g.out_height - 1),
                    row_changed.eq(1),
                ]
        return m


class PoolReducer(wiring.Component):
    """The pooled value of each run of ``pooling``'s window values (a ``WindowGenerator``
    with ``channels_outer`` in front): their max, or ``rshift_round(sum, pooling.shift)``.

    Attributes
    ----------
    x : In(stream.Signature(signed(bits)))
        Window values, ``size_y * size_x`` per pooled value.
    y : Out(stream.Signature(signed(bits)))
        Pooled values, channel-last.

    Throughput: a value in every cycle; latency: a pooled value leaves two cycles after its
    window's last value enters (an input register, then the reduction).
    """

    def __init__(self, pooling: Pooling, bits: int):
        self.pooling, self.bits = pooling, bits
        super().__init__(
            {"x": In(stream.Signature(signed(bits))), "y": Out(stream.Signature(signed(bits)))}
        )

    def elaborate(self, platform):
        p = self.pooling
        m = Module()
        size = p.size_y * p.size_x
        total_bits = self.bits + max(size - 1, 0).bit_length() + 1
        running = Signal(signed(total_bits))
        count = Signal(_at_least_one_bit(size))
        first = count == 0
        combined = Signal(signed(total_bits))
        value = Signal(signed(self.bits))  # the input register (below)
        if p.kind == "max":
            m.d.comb += combined.eq(Mux(first | (value > running), value, running))
            result = combined
        else:
            m.d.comb += combined.eq(Mux(first, 0, running) + value)
            shift = p.shift
            result = (combined + (1 << shift >> 1)) >> shift if shift else combined
        out_valid = Signal()
        # the input register: the window value the reduction takes next, so no memory read
        # port sits in front of the comparison or the adder
        in_valid = Signal()
        take = in_valid & (~out_valid | self.y.ready)
        m.d.comb += [self.x.ready.eq(~in_valid | take), self.y.valid.eq(out_valid)]
        with m.If(self.x.valid & self.x.ready):
            m.d.sync += [in_valid.eq(1), value.eq(self.x.payload)]
        with m.Elif(take):
            m.d.sync += in_valid.eq(0)
        with m.If(self.y.ready):
            m.d.sync += out_valid.eq(0)
        with m.If(take):
            m.d.sync += [running.eq(combined), count.eq(Mux(count == size - 1, 0, count + 1))]
            with m.If(count == size - 1):
                m.d.sync += [out_valid.eq(1), self.y.payload.eq(result)]
        return m


class ConvLayer(wiring.Component):
    """A convolution (and optional pooling) around a folded layer core.

    ``x`` -> ``WindowGenerator`` -> ``core`` (a ``ConfiguredLayer`` whose dense
    ``(out_channels, window_size)`` codes are the kernel) -> [``WindowGenerator``
    (channels outer) -> ``PoolReducer``] -> ``y``; the bus goes to the core.

    Attributes
    ----------
    x : In(stream.Signature(signed(config.act_bits)))
        Images, channel-last (``window.values_in`` values each).
    y : Out(stream.Signature(signed(config.out_bits)))
        Output images, channel-last (``values_out`` values each).
    bus : In(ConfigBus(register_map.address_bits))
    config, register_map : the core's

    Throughput: an image every ``Convolution.image_cycles`` cycles at most (the window
    generators' loads and reads, every position through the core, the pooling generator's,
    added); measured, about the slowest of them (the digits CNN's first layer: 1,919
    cycles against a bound of 2,384).
    """

    def __init__(self, window: ConvWindow, core: ConfiguredLayer, pooling: Pooling | None = None):
        config = core.config
        if config.unrolled:
            raise UserError("a convolution runs on a folded core, not an unrolled one")
        if core.vectors_per_commit != window.positions:
            raise UserError(
                f"the core must commit once per image ({window.positions} positions), not "
                f"every {core.vectors_per_commit} vectors"
            )
        if config.n_in != window.window_size:
            raise UserError(
                f"the core takes {config.n_in} inputs; the {window.kernel_y}x{window.kernel_x}"
                f"x{window.channels} window has {window.window_size}"
            )
        if pooling is not None and (pooling.height, pooling.width, pooling.channels) != (
            window.out_height,
            window.out_width,
            config.n_out,
        ):
            raise UserError("the pooling's image is not the convolution's output")
        self.window, self.core, self.pooling = window, core, pooling
        self.config, self.register_map = config, core.register_map
        super().__init__(
            {
                "x": In(stream.Signature(signed(config.act_bits))),
                "y": Out(stream.Signature(signed(config.out_bits))),
                "bus": In(ConfigBus(self.register_map.address_bits)),
            }
        )

    @property
    def values_in(self) -> int:
        return self.window.values_in

    @property
    def stored_words(self):
        """The core's code memory words (``ConfiguredLayer.stored_words``)."""
        return self.core.stored_words

    @property
    def initial_bias(self):
        return self.core.initial_bias

    @property
    def initial_scales(self):
        return self.core.initial_scales

    @property
    def values_out(self) -> int:
        if self.pooling is not None:
            return self.pooling.values_out
        return self.window.positions * self.config.n_out

    def elaborate(self, platform):
        m = Module()
        m.submodules.windows = windows = WindowGenerator(self.window, self.config.act_bits)
        m.submodules.core = self.core
        wiring.connect(m, wiring.flipped(self.x), windows.x)
        wiring.connect(m, windows.y, self.core.x)
        wiring.connect(m, wiring.flipped(self.bus), self.core.bus)
        if self.pooling is None:
            wiring.connect(m, self.core.y, wiring.flipped(self.y))
            return m
        bits = self.config.out_bits
        m.submodules.pool_windows = pool_windows = WindowGenerator(
            self.pooling.window, bits, channels_outer=True
        )
        m.submodules.pool = pool = PoolReducer(self.pooling, bits)
        wiring.connect(m, self.core.y, pool_windows.x)
        wiring.connect(m, pool_windows.y, pool.x)
        wiring.connect(m, pool.y, wiring.flipped(self.y))
        return m
