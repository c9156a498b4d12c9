"""The board side of the host link: UART bytes in and out, the network's streams and
configuration bus on the other side (protocol: ``jaynes_hw.contract.host_protocol``)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import (
    ERROR_REPLY,
    HEADER_BYTES,
    MAX_STREAM_VECTORS,
    RX_FIFO_BYTES,
    HostCommand,
    LinkFault,
    batch_vectors,
    crc8,
    staged_values,
    value_bytes,
)
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.datapath import balanced_or
from jaynes_hw.gateware.stream_fifo import StreamFIFO
from jaynes_hw.gateware.uart import UARTReceiver, UARTTransmitter

# CRC-8 is linear: bit i of the next CRC is the XOR of the bits j of (crc ^ byte) whose own
# CRC (of the byte 1 << j) has bit i set.
_CRC_COLUMNS = [crc8(bytes([1 << bit])) for bit in range(8)]


def crc8_step(crc, byte):
    """The Amaranth expression of ``crc8(bytes([byte]), crc)``: an XOR of at most 8 bits per
    output bit (two LUT4 levels)."""
    mixed = crc ^ byte
    return Cat(
        *(
            _xor([mixed[bit] for bit in range(8) if _CRC_COLUMNS[bit] >> out & 1])
            for out in range(8)
        )
    )


class _Countdown:
    """A down-counter whose ``== 1`` is a flip-flop beside it (``last``), so a state machine
    tests one flip-flop instead of a comparison of the count."""

    def __init__(self, most: int, name: str):
        self.count = Signal(range(most + 1), name=name)
        self.last = Signal(name=f"{name}_last")

    def load(self, value):
        """Statements that set the count to ``value`` (a constant or a register)."""
        return [self.count.eq(value), self.last.eq(value == 1)]

    def step(self):
        """Statements that count one down."""
        return [self.count.eq(self.count - 1), self.last.eq(self.count == 2)]


def _xor(bits):
    result = bits[0]
    for bit in bits[1:]:
        result = result ^ bit
    return result


class HostLink(wiring.Component):
    """UART protocol engine in front of a ``Network``.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit (``round(clock_hz / baud)``).
    address_bits : int
        Width of the network's configuration bus address.
    act_bits, out_bits : int
        Signed width of the network's input and output values.
    n_in, n_out : int
        Values in one input vector and one output vector of the network.
    idle_timeout_cycles : int
        A quiet line this long (``IDLE_TIMEOUT_S`` in cycles) ends a command that stopped
        short, and ends the dropping of input after an error.
    rx_fifo_bytes : int
        Depth of the receive FIFO (``RX_FIFO_BYTES``; smaller in tests of its overflow).

    Attributes
    ----------
    rx : In(1), tx : Out(1)
        The serial lines (8N1).
    x : Out(stream.Signature(signed(act_bits)))
        Input values to the network.
    y : In(stream.Signature(signed(out_bits)))
        Results from the network; each goes out as ``ceil(out_bits/8)`` bytes.
    bus : Out(ConfigBus(address_bits))
        The network's configuration port.

    An 'X' frame's values are held in a staging memory (``staged_values(n_in)`` entries, a
    block RAM) until its CRC has checked, then replayed into ``x`` at one value a cycle
    while the results go out behind the 'X' tag. Received bytes wait in the receive FIFO
    (a block RAM) while the parser replays, waits for the bus or for the transmitter.
    """

    def __init__(
        self,
        divisor: int,
        address_bits: int,
        act_bits: int,
        out_bits: int,
        *,
        n_in: int,
        n_out: int,
        idle_timeout_cycles: int,
        rx_fifo_bytes: int = RX_FIFO_BYTES,
    ):
        if address_bits > 32:
            raise ValueError(f"the host link carries 32-bit addresses, not {address_bits}")
        if idle_timeout_cycles < 1:
            raise ValueError(f"idle_timeout_cycles must be positive, not {idle_timeout_cycles}")
        self.divisor = divisor
        self.act_bits, self.out_bits = act_bits, out_bits
        self.n_in, self.n_out = n_in, n_out
        self.idle_timeout_cycles = idle_timeout_cycles
        self.rx_fifo_bytes = rx_fifo_bytes
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "x": Out(stream.Signature(signed(act_bits))),
                "y": In(stream.Signature(signed(out_bits))),
                "bus": Out(ConfigBus(address_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.receiver = receiver = UARTReceiver(self.divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        m.submodules.rx_fifo = rx_fifo = StreamFIFO(8, self.rx_fifo_bytes)
        m.d.comb += [
            receiver.rx.eq(self.rx),
            self.tx.eq(transmitter.tx),
            rx_fifo.w.payload.eq(receiver.data),
            rx_fifo.w.valid.eq(receiver.strobe),
        ]
        # Faults of the line, sticky until an 'E' answer reports them.
        overflow, framing = Signal(), Signal()
        with m.If(receiver.strobe & ~rx_fifo.w.ready):
            m.d.sync += overflow.eq(1)
        with m.If(receiver.framing_error):
            m.d.sync += framing.eq(1)
        # ``quiet``: the line has been idle for ``idle_timeout_cycles``.
        quiet_count = Signal(range(self.idle_timeout_cycles + 1))
        quiet = Signal()
        with m.If(receiver.busy):
            m.d.sync += [quiet_count.eq(0), quiet.eq(0)]
        with m.Elif(~quiet):
            m.d.sync += [
                quiet_count.eq(quiet_count + 1),
                quiet.eq(quiet_count == self.idle_timeout_cycles - 1),
            ]
        # A byte is offered to the parser once it has sat a cycle at the FIFO's output
        # (``settled``): the comparisons the parser makes of it are flip-flops by then.
        # Bytes come ten bit times apart; the parser spends two cycles on each.
        byte = rx_fifo.r.payload
        settled = Signal()
        m.d.sync += settled.eq(rx_fifo.r.valid & ~rx_fifo.r.ready)
        stopped_short = quiet & ~rx_fifo.r.valid  # the line went quiet, every byte taken
        byte_is = {kind: Signal(name=f"byte_is_{kind.name.lower()}") for kind in HostCommand}
        byte_is_crc = Signal()  # the byte is the CRC of the frame so far
        m.d.sync += [flag.eq(byte == kind) for kind, flag in byte_is.items()]

        m.submodules.x_fifo = x_fifo = StreamFIFO(self.act_bits, 2)
        wiring.connect(m, x_fifo.r, wiring.flipped(self.x))

        # --- the answer: tag, data bytes, results (for 'X'), CRC ------------------------------
        # The parser asks with ``reply_start`` (and the reply_* values beside it) once
        # ``reply_idle``; the transmit side latches them and sends the frame.
        reply_start, reply_idle = Signal(), Signal()
        reply_tag, reply_word = Signal(8), Signal(32)
        bus_data = Signal(32)  # what the bus read
        reply_data_bytes = Signal(range(5))
        reply_vectors = Signal(16)  # vectors of results to send ('X'), else 0
        self._transmit(
            m, transmitter, reply_start, reply_idle, reply_tag, reply_word, reply_data_bytes,
            reply_vectors,
        )  # fmt: skip

        # --- the staging memory of an 'X' frame's values -------------------------------------
        depth = staged_values(self.n_in)
        m.submodules.stage = stage = Memory(shape=self.act_bits, depth=depth, init=[])
        stage_write = stage.write_port()
        stage_read = stage.read_port(transparent_for=())
        write_index = Signal(range(depth + 1))
        read_index = Signal(range(depth + 1))
        read_valid = Signal()  # stage_read.data holds a value not yet in x_fifo
        replay_left = _Countdown(depth, "replay_left")
        replay_empty = Signal()  # every staged value has been read
        m.d.comb += [stage_write.addr.eq(write_index), stage_read.addr.eq(read_index)]

        # --- the parser ---------------------------------------------------------------------
        command = {kind: Signal(name=f"command_{kind.name.lower()}") for kind in HostCommand}
        crc_in = Signal(8)
        next_crc = crc8_step(crc_in, byte)
        m.d.sync += byte_is_crc.eq(byte == crc_in)
        header = Signal(64)  # header bytes, shifted in from the top
        header_left = Signal(range(max(HEADER_BYTES.values()) + 1))
        in_bytes = value_bytes(self.act_bits)
        value = Signal(8 * in_bytes)  # bytes of an input value, shifted in from the top
        next_value = Cat(value[8:], byte)
        value_bytes_left = Signal(range(in_bytes + 1))
        vector_values_left = _Countdown(self.n_in, "vector_values_left")
        vectors_left = _Countdown(MAX_STREAM_VECTORS, "vectors_left")
        count = header[48:]  # the 'X' count, once its two bytes are in
        # the count's comparisons, a cycle after the header register took it
        count_zero, count_too_long = Signal(), Signal()
        m.d.sync += [
            count_zero.eq(count == 0),
            count_too_long.eq(count > batch_vectors(self.n_in)),
        ]
        fault = Signal(range(max(LinkFault) + 1))
        write_strobe, read_strobe = Signal(), Signal()
        m.d.comb += [
            self.bus.w_stb.eq(write_strobe),
            self.bus.r_stb.eq(read_strobe),
            # 'W' addr[4] data[4]: 8 header bytes; 'R' addr[4]: the top 4
            self.bus.addr.eq(Mux(command[HostCommand.READ], header[32:], header[:32])),
            self.bus.w_data.eq(header[32:]),
        ]

        def fail(code, *, quiet_now=False):
            m.d.sync += fault.eq(code)
            m.next = "error-reply" if quiet_now else "discard"

        with m.FSM(name="parser"):
            with m.State("command"):
                m.d.comb += rx_fifo.r.ready.eq(settled)
                with m.If(settled):
                    m.d.sync += crc_in.eq(crc8_step(0, byte))
                    m.d.sync += [command[kind].eq(flag) for kind, flag in byte_is.items()]
                    with m.If(~balanced_or(list(byte_is.values()))):
                        fail(LinkFault.UNKNOWN)
                    for kind, length in HEADER_BYTES.items():
                        with m.If(byte_is[kind]):
                            m.d.sync += header_left.eq(length)
                            m.next = "header" if length else "check"
            with m.State("header"):
                m.d.comb += rx_fifo.r.ready.eq(settled)
                with m.If(settled):
                    m.d.sync += [
                        header.eq(Cat(header[8:], byte)),
                        crc_in.eq(next_crc),
                        header_left.eq(header_left - 1),
                    ]
                    with m.If((header_left == 1) & command[HostCommand.STREAM]):
                        m.next = "stream-count-settle"
                    with m.Elif(header_left == 1):
                        m.next = "check"
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with m.State("stream-count-settle"):  # count_zero / count_too_long follow count
                m.next = "stream-count"
            with m.State("stream-count"):
                m.d.sync += [
                    write_index.eq(0),
                    *vectors_left.load(count),
                    *vector_values_left.load(self.n_in),
                    value_bytes_left.eq(in_bytes),
                ]
                with m.If(count_too_long):
                    fail(LinkFault.TOO_LONG)
                with m.Elif(count_zero):
                    m.next = "check"
                with m.Else():
                    m.next = "payload"
            with m.State("payload"):
                m.d.comb += [
                    rx_fifo.r.ready.eq(settled),
                    stage_write.data.eq(next_value),
                    stage_write.en.eq(settled & (value_bytes_left == 1)),
                ]
                with m.If(settled):
                    m.d.sync += [
                        crc_in.eq(next_crc),
                        value.eq(next_value),
                        value_bytes_left.eq(value_bytes_left - 1),
                    ]
                    with m.If(value_bytes_left == 1):
                        m.d.sync += [
                            value_bytes_left.eq(in_bytes),
                            write_index.eq(write_index + 1),
                            *vector_values_left.step(),
                        ]
                        with m.If(vector_values_left.last):
                            m.d.sync += [
                                *vector_values_left.load(self.n_in),
                                *vectors_left.step(),
                            ]
                            with m.If(vectors_left.last):
                                m.next = "check"
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with m.State("check"):  # the CRC byte, and any fault of the line meanwhile
                m.d.comb += rx_fifo.r.ready.eq(settled)
                with m.If(settled):
                    with m.If(overflow | framing | ~byte_is_crc):
                        fail(LinkFault.CHECKSUM)  # an overflow or framing fault is named instead
                    with m.Elif(command[HostCommand.WRITE]):
                        m.d.sync += write_strobe.eq(1)
                        m.next = "bus"
                    with m.Elif(command[HostCommand.READ]):
                        m.d.sync += read_strobe.eq(1)
                        m.next = "bus"
                    with m.Else():
                        m.next = "reply"
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with m.State("bus"):
                with m.If(self.bus.ack):
                    m.d.sync += [
                        write_strobe.eq(0),
                        read_strobe.eq(0),
                        bus_data.eq(self.bus.r_data),
                    ]
                    m.next = "reply"
            with m.State("reply"):  # answer with the command's own byte once tx is free
                for kind, flag in command.items():
                    with m.If(flag):
                        m.d.comb += reply_tag.eq(kind)
                with m.If(command[HostCommand.READ]):
                    m.d.comb += [reply_word.eq(bus_data), reply_data_bytes.eq(4)]
                with m.If(command[HostCommand.STREAM]):
                    m.d.comb += reply_vectors.eq(count)
                with m.If(reply_idle):
                    m.d.comb += reply_start.eq(1)
                    m.d.sync += [
                        read_index.eq(0),
                        read_valid.eq(0),
                        replay_empty.eq(write_index == 0),
                        *replay_left.load(write_index),
                    ]
                    with m.If(command[HostCommand.STREAM]):
                        m.next = "replay"
                    with m.Else():
                        m.next = "command"
            with m.State("replay"):  # the staged values into the network, one a cycle
                advance = ~read_valid | x_fifo.w.ready
                m.d.comb += [
                    stage_read.en.eq(advance),
                    x_fifo.w.valid.eq(read_valid),
                    x_fifo.w.payload.eq(stage_read.data),
                ]
                with m.If(advance):
                    m.d.sync += read_valid.eq(~replay_empty)
                    with m.If(~replay_empty):
                        m.d.sync += [
                            read_index.eq(read_index + 1),
                            *replay_left.step(),
                            replay_empty.eq(replay_left.last),
                        ]
                    with m.Else():
                        m.next = "command"
            with m.State("discard"):  # drop input until the line is quiet, then answer 'E'
                m.d.comb += rx_fifo.r.ready.eq(1)
                with m.If(stopped_short):
                    m.next = "error-reply"
            with m.State("error-reply"):
                m.d.comb += [reply_tag.eq(ERROR_REPLY), reply_data_bytes.eq(1)]
                with m.If(overflow):
                    m.d.comb += reply_word.eq(LinkFault.OVERFLOW)
                with m.Elif(framing):
                    m.d.comb += reply_word.eq(LinkFault.FRAMING)
                with m.Else():
                    m.d.comb += reply_word.eq(fault)
                with m.If(reply_idle):
                    m.d.comb += reply_start.eq(1)
                    m.d.sync += [overflow.eq(0), framing.eq(0)]
                    m.next = "command"
        return m

    def _transmit(self, m, transmitter, start, idle, tag, word, data_bytes, vectors):
        """The answer's frame: ``tag``, ``data_bytes`` bytes of ``word``, then (``vectors``
        > 0) every result of that many output vectors as they come from ``y``, then the CRC
        of all of it. ``start`` latches the inputs while ``idle``."""
        out_bytes = value_bytes(self.out_bits)
        head = Signal(40)  # tag and data bytes, sent from the bottom
        head_left = Signal(range(6))
        vectors_left = _Countdown(MAX_STREAM_VECTORS, "reply_vectors_left")
        any_vectors = Signal()
        vector_results_left = _Countdown(self.n_out, "vector_results_left")
        result = Signal(8 * out_bytes)  # a result's bytes, sent from the bottom
        result_bytes_left = Signal(range(out_bytes + 1))
        crc_out = Signal(8)
        sent = transmitter.bytes.valid & transmitter.bytes.ready
        with m.If(sent):
            m.d.sync += crc_out.eq(crc8_step(crc_out, transmitter.bytes.payload))
        with m.FSM(name="transmit"):
            with m.State("idle"):
                m.d.comb += idle.eq(1)
                with m.If(start):
                    m.d.sync += [
                        head.eq(Cat(tag, word)),
                        head_left.eq(1 + data_bytes),
                        *vectors_left.load(vectors),
                        any_vectors.eq(vectors != 0),
                        *vector_results_left.load(self.n_out),
                        result_bytes_left.eq(0),
                        crc_out.eq(0),
                    ]
                    m.next = "head"
            with m.State("head"):
                m.d.comb += [transmitter.bytes.valid.eq(1), transmitter.bytes.payload.eq(head)]
                with m.If(transmitter.bytes.ready):
                    m.d.sync += [head.eq(head >> 8), head_left.eq(head_left - 1)]
                    with m.If((head_left == 1) & any_vectors):
                        m.next = "results"
                    with m.Elif(head_left == 1):
                        m.next = "crc"
            with m.State("results"):
                with m.If(result_bytes_left == 0):
                    m.d.comb += self.y.ready.eq(1)
                    with m.If(self.y.valid):
                        m.d.sync += [
                            result.eq(self.y.payload.as_signed()),
                            result_bytes_left.eq(out_bytes),
                        ]
                with m.Else():
                    m.d.comb += [
                        transmitter.bytes.valid.eq(1),
                        transmitter.bytes.payload.eq(result),
                    ]
                    with m.If(transmitter.bytes.ready):
                        m.d.sync += [
                            result.eq(result >> 8),
                            result_bytes_left.eq(result_bytes_left - 1),
                        ]
                        with m.If(result_bytes_left == 1):
                            m.d.sync += vector_results_left.step()
                            with m.If(vector_results_left.last):
                                m.d.sync += [
                                    *vector_results_left.load(self.n_out),
                                    *vectors_left.step(),
                                ]
                                with m.If(vectors_left.last):
                                    m.next = "crc"
            with m.State("crc"):
                m.d.comb += [transmitter.bytes.valid.eq(1), transmitter.bytes.payload.eq(crc_out)]
                with m.If(transmitter.bytes.ready):
                    m.next = "idle"
