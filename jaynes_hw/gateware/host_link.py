"""The board side of the host link: UART bytes in and out, the network's streams and
configuration bus on the other side (protocol: ``jaynes_hw.contract.host_protocol``)."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import (
    ERROR_REPLY,
    HEADER_BYTES,
    MAX_SELF_TEST_PASSES,
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
from jaynes_hw.gateware.stream_fifo import SkidBuffer, StreamFIFO
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

    def __init__(self, most: int, name: str, *, reset_less: bool = False):
        self.count = Signal(range(most + 1), name=name, reset_less=reset_less)
        self.last = Signal(name=f"{name}_last", reset_less=reset_less)

    def load(self, value):
        """Statements that set the count to ``value`` (a constant or a register)."""
        return [self.count.eq(value), self.last.eq(value == 1)]

    def step(self):
        """Statements that count one down."""
        return [self.count.eq(self.count - 1), self.last.eq(self.count == 2)]


class _StateMachine:
    """``m.FSM`` with its state register marked for re-encoding (``fsm_encoding = "auto"``:
    Yosys makes it one-hot), so each state's decode is a flip-flop, not a comparison of
    the state code in front of every enable. Amaranth's own FSM gives its state an init
    value, which stops Yosys from re-encoding it.

    Use inside ``with m.Switch(machine.state):``: ``with machine.State(name):`` for each
    state, ``machine.goto(name)`` for a transition. The first of ``states`` is the state
    after reset.
    """

    def __init__(self, m: Module, name: str, states: list[str]):
        self.m = m
        self.codes = {state: code for code, state in enumerate(states)}
        self.state = Signal(
            range(len(states)), name=f"{name}_state", attrs={"fsm_encoding": "auto"}
        )

    def State(self, name: str):  # named as m.State
        return self.m.Case(self.codes[name])

    def goto(self, name: str) -> None:
        self.m.d.sync += self.state.eq(self.codes[name])


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
    self_test : bool
        Build the 'T' command (on the UP5K about 280 logic cells and 10 MHz of the link's
        own Fmax: a 32-bit cycle counter and checksum, their counters); without it a 'T' is
        answered ``E UNKNOWN``.

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
    while the results go out behind the 'X' tag. A 'T' (self-test) replays them again,
    ``passes`` times, takes every result at once (``y.ready`` high) into a checksum and a
    cycle count, and answers with those two words. Received bytes wait in the receive FIFO
    (a block RAM) while the parser replays, waits for the bus or for the transmitter.
    ``x`` and ``y`` pass through skid buffers (one cycle each way): the network's stall and
    the link's state decode never share a path.
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
        self_test: bool = True,
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
        self.self_test = self_test
        # the command bytes it knows: without the self-test, 'T' is an unknown command
        self.commands = tuple(
            kind for kind in HostCommand if self_test or kind != HostCommand.SELF_TEST
        )
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
        # (``settled``): the comparisons the parser makes of it are flip-flops by then. The
        # parser takes it (``take``, its state decode) and the FIFO lets it go a cycle later
        # (``pop``, a flip-flop: the FIFO's enables never see the parser's state). Bytes come
        # ten bit times apart; the parser spends three cycles on each. What it does with the
        # byte reads a copy of it (``byte``), registered like the comparisons: the block
        # RAM's slow output reaches only flip-flops.
        byte = Signal(8, reset_less=True)
        m.d.sync += byte.eq(rx_fifo.r.payload)
        settled, take, pop = Signal(), Signal(), Signal()
        m.d.sync += [
            settled.eq(rx_fifo.r.valid & ~pop & ~take),
            pop.eq(take),
        ]
        m.d.comb += rx_fifo.r.ready.eq(pop)
        stopped_short = quiet & ~rx_fifo.r.valid  # the line went quiet, every byte taken
        byte_is = {kind: Signal(name=f"byte_is_{kind.name.lower()}") for kind in self.commands}
        byte_is_crc = Signal()  # the byte is the CRC of the frame so far
        m.d.sync += [flag.eq(rx_fifo.r.payload == kind) for kind, flag in byte_is.items()]

        # one value a cycle into ``x``; the network's ``ready`` (its stall) reaches only the
        # buffer's registers, not the replayer
        m.submodules.x_buffer = x_buffer = SkidBuffer(self.act_bits)
        wiring.connect(m, x_buffer.r, wiring.flipped(self.x))
        # and the results: the transmitter's and the self-test's ``ready`` (their state
        # decode) reach only this buffer's registers, not the network's output queue
        m.submodules.y_buffer = y_buffer = SkidBuffer(self.out_bits)
        wiring.connect(m, wiring.flipped(self.y), y_buffer.w)
        network_results = y_buffer.r

        # the parser's header bytes, shifted in from the top (read by the replayer too)
        header = Signal(64)
        count = header[48:]  # the 'X' vectors or 'T' passes, once their two bytes are in

        # --- the answer: tag, data bytes, results (for 'X'), CRC ------------------------------
        # The parser sets the reply_* registers and asks with ``reply_start`` once
        # ``reply_idle``; the transmit side loads them a cycle later (``start``, a flip-flop:
        # the parser's state decode is not in the transmitter's enables), before the parser
        # can change any of them.
        reply_start, reply_idle, start = Signal(), Signal(), Signal()
        reply_tag = Signal(8)  # the command's byte, or 'E'
        reply_word = Signal(32)  # what the bus read ('R'), the cycles ('T') or the fault ('E')
        reply_data_bytes = Signal(range(9))  # 8: the word, then the checksum ('T')
        reply_results = Signal()  # the results of ``count`` vectors follow ('X')
        test_cycles, test_checksum = Signal(32), Signal(32)  # the self-test's answer
        m.d.sync += start.eq(reply_start)
        transmitter_idle = Signal()
        m.d.comb += reply_idle.eq(transmitter_idle & ~start)

        # --- the staging memory of an 'X' frame's values -------------------------------------
        depth = staged_values(self.n_in)
        m.submodules.stage = stage = Memory(shape=self.act_bits, depth=depth, init=[])
        stage_write = stage.write_port()
        stage_read = stage.read_port(transparent_for=())
        write_index = Signal(range(depth + 1))
        # the replayer's counters are loaded before use (on ``replay_request``): no reset,
        # which on the iCE40 would be one more input of their enables
        read_index = Signal(range(depth + 1), reset_less=True)
        read_valid = Signal()  # stage_read.data holds a value not yet in x_buffer
        replay_left = _Countdown(depth, "replay_left", reset_less=True)
        replay_empty = Signal(reset_less=True)  # every staged value has been read
        m.d.comb += [stage_write.addr.eq(write_index), stage_read.addr.eq(read_index)]
        staged_ok = Signal()  # the stage holds the values of an 'X' whose CRC checked
        staged_vectors = Signal(range(batch_vectors(self.n_in) + 1))

        # --- the replayer: the staged values into ``x``, one a cycle, once or ``count`` times
        # It reads only its own registers: the parser asks with ``replay_request`` (a
        # flip-flop, one cycle) and waits for ``replaying`` to fall, so the parser's state
        # decode is never in the enables of the read side (the board's critical path).
        replay_request = Signal()
        replay_once = Signal()  # one pass ('X'), else the 'T' header's count of passes
        replaying = Signal()
        passes_left = _Countdown(MAX_SELF_TEST_PASSES, "replay_passes_left", reset_less=True)
        m.d.sync += replay_request.eq(0)  # a pulse: the parser sets it for one cycle
        advance = ~read_valid | x_buffer.w.ready
        m.d.comb += [
            stage_read.en.eq(advance),
            x_buffer.w.valid.eq(read_valid),
            x_buffer.w.payload.eq(stage_read.data),
        ]
        from_the_first = [
            read_index.eq(0),
            replay_empty.eq(write_index == 0),
            *replay_left.load(write_index),
        ]
        with m.If(advance):  # the value read is taken (or there was none): read the next
            m.d.sync += read_valid.eq(replaying & ~replay_empty)
        with m.If(replay_request):
            m.d.sync += [
                *from_the_first,
                replaying.eq(1),
                *passes_left.load(Mux(replay_once, 1, count) if self.self_test else 1),
            ]
        with m.Elif(replaying & advance & ~replay_empty):
            m.d.sync += [
                read_index.eq(read_index + 1),
                *replay_left.step(),
                replay_empty.eq(replay_left.last),
            ]
        # a pass all read: the next one, or the end (the last value may still wait in
        # ``read_valid``; the enables here see only this replayer's flip-flops)
        with m.Elif(replaying & replay_empty):
            with m.If(passes_left.last):
                m.d.sync += replaying.eq(0)
            with m.Else():
                m.d.sync += [*from_the_first, *passes_left.step()]

        # --- the self-test's receive side: every result into the checksum --------------------
        if self.self_test:
            testing = Signal()
            test_results_left = _Countdown(self.n_out, "test_results_left")
            test_vectors_left = _Countdown(batch_vectors(self.n_in), "test_vectors_left")
            test_passes_left = _Countdown(MAX_SELF_TEST_PASSES, "test_passes_left")  # received
            result_word = Signal(signed(32))
            m.d.comb += result_word.eq(network_results.payload.as_signed())
            with m.If(testing):
                m.d.comb += network_results.ready.eq(1)
                m.d.sync += test_cycles.eq(test_cycles + 1)
                with m.If(network_results.valid):
                    m.d.sync += [
                        test_checksum.eq(test_checksum.rotate_left(1) ^ result_word),
                        *test_results_left.step(),
                    ]
                    with m.If(test_results_left.last):
                        m.d.sync += [*test_results_left.load(self.n_out), *test_vectors_left.step()]
                        with m.If(test_vectors_left.last):
                            m.d.sync += [
                                *test_vectors_left.load(staged_vectors),
                                *test_passes_left.step(),
                            ]
                            with m.If(test_passes_left.last):
                                m.d.sync += testing.eq(0)

        # --- the parser ---------------------------------------------------------------------
        command = {kind: Signal(name=f"command_{kind.name.lower()}") for kind in self.commands}
        is_self_test = command.get(HostCommand.SELF_TEST, C(0))
        crc_in = Signal(8)
        next_crc = crc8_step(crc_in, byte)
        m.d.sync += byte_is_crc.eq(rx_fifo.r.payload == crc_in)
        header_left = Signal(range(max(HEADER_BYTES.values()) + 1))
        in_bytes = value_bytes(self.act_bits)
        value = Signal(8 * in_bytes)  # bytes of an input value, shifted in from the top
        next_value = Cat(value[8:], byte)
        value_bytes_left = Signal(range(in_bytes + 1))
        # the payload's counters compared a cycle after they move (flip-flops, ready long
        # before the next byte settles: the parser spends three cycles on each)
        value_complete = Signal()  # this byte completes a value
        frame_complete = Signal()  # ... and the frame's last vector
        vector_values_left = _Countdown(self.n_in, "vector_values_left")
        vectors_left = _Countdown(MAX_STREAM_VECTORS, "vectors_left")
        last_byte_of_value = value_bytes_left == 1
        m.d.sync += [
            value_complete.eq(last_byte_of_value),
            frame_complete.eq(last_byte_of_value & vector_values_left.last & vectors_left.last),
        ]
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

        parser_states = ["command", "header", "stream-count-settle", "stream-count", "payload"]
        parser_states += ["check", "bus", "reply", "replay", "discard", "error-reply"]
        if self.self_test:
            parser_states += ["self-test", "self-test-drain"]
        parser = _StateMachine(m, "parser", parser_states)

        def fail(code, *, quiet_now=False):
            m.d.sync += fault.eq(code)
            parser.goto("error-reply" if quiet_now else "discard")

        with m.Switch(parser.state):
            with parser.State("command"):
                m.d.comb += take.eq(settled)
                with m.If(settled):
                    m.d.sync += [crc_in.eq(crc8_step(0, byte)), reply_tag.eq(byte)]
                    m.d.sync += [command[kind].eq(flag) for kind, flag in byte_is.items()]
                    with m.If(~balanced_or(list(byte_is.values()))):
                        fail(LinkFault.UNKNOWN)
                    for kind, flag in byte_is.items():
                        with m.If(flag):
                            m.d.sync += header_left.eq(HEADER_BYTES[kind])
                            parser.goto("header" if HEADER_BYTES[kind] else "check")
            with parser.State("header"):
                m.d.comb += take.eq(settled)
                with m.If(settled):
                    m.d.sync += [
                        header.eq(Cat(header[8:], byte)),
                        crc_in.eq(next_crc),
                        header_left.eq(header_left - 1),
                    ]
                    with m.If((header_left == 1) & command[HostCommand.STREAM]):
                        parser.goto("stream-count-settle")
                    with m.Elif(header_left == 1):
                        parser.goto("check")
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with parser.State("stream-count-settle"):  # count_zero / count_too_long follow count
                m.d.sync += [
                    staged_ok.eq(0),
                    write_index.eq(0),
                    *vectors_left.load(count),
                    *vector_values_left.load(self.n_in),
                    value_bytes_left.eq(in_bytes),
                ]
                parser.goto("stream-count")
            with parser.State("stream-count"):  # the payload's flags follow its counters
                with m.If(count_too_long):
                    fail(LinkFault.TOO_LONG)
                with m.Elif(count_zero):
                    parser.goto("check")
                with m.Else():
                    parser.goto("payload")
            with parser.State("payload"):
                m.d.comb += [
                    take.eq(settled),
                    stage_write.data.eq(next_value),
                    stage_write.en.eq(settled & value_complete),
                ]
                with m.If(settled):
                    m.d.sync += [
                        crc_in.eq(next_crc),
                        value.eq(next_value),
                        value_bytes_left.eq(value_bytes_left - 1),
                    ]
                    with m.If(value_complete):
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
                    with m.If(frame_complete):
                        parser.goto("check")
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with parser.State("check"):  # the CRC byte, and any fault of the line meanwhile
                m.d.comb += take.eq(settled)
                with m.If(settled):
                    with m.If(overflow | framing | ~byte_is_crc):
                        fail(LinkFault.CHECKSUM)  # an overflow or framing fault is named instead
                    with m.Elif(command[HostCommand.WRITE]):
                        m.d.sync += write_strobe.eq(1)
                        parser.goto("bus")
                    with m.Elif(command[HostCommand.READ]):
                        m.d.sync += read_strobe.eq(1)
                        parser.goto("bus")
                    if self.self_test:
                        with m.Elif(is_self_test & ~staged_ok):
                            fail(LinkFault.NOTHING_STAGED)
                        with m.Elif(is_self_test):
                            parser.goto("self-test")
                    with m.Else():
                        with m.If(command[HostCommand.STREAM]):
                            m.d.sync += [staged_ok.eq(~count_zero), staged_vectors.eq(count)]
                        parser.goto("reply")
                with m.Elif(stopped_short):
                    fail(LinkFault.TIMEOUT, quiet_now=True)
            with parser.State("bus"):
                with m.If(self.bus.ack):
                    m.d.sync += [
                        write_strobe.eq(0),
                        read_strobe.eq(0),
                        reply_word.eq(self.bus.r_data),
                    ]
                    parser.goto("reply")
            with parser.State("reply"):  # answer with the command's own byte once tx is free
                m.d.sync += [
                    reply_data_bytes.eq(Mux(command[HostCommand.READ], 4, Mux(is_self_test, 8, 0))),
                    reply_results.eq(command[HostCommand.STREAM]),
                ]
                with m.If(is_self_test):
                    m.d.sync += reply_word.eq(test_cycles)
                with m.If(reply_idle):
                    m.d.comb += reply_start.eq(1)
                    with m.If(command[HostCommand.STREAM]):
                        m.d.sync += [replay_request.eq(1), replay_once.eq(1)]
                        parser.goto("replay")
                    with m.Else():
                        parser.goto("command")
            with parser.State("replay"):  # until the replayer has put every staged value in x
                with m.If(~replay_request & ~replaying):
                    parser.goto("command")
            if self.self_test:
                # the self-test starts once the answer before it has gone (every result of the
                # last 'X' is out of ``y``), with the passes the header asked for
                with parser.State("self-test"):
                    m.d.sync += [
                        test_cycles.eq(0),
                        test_checksum.eq(0),
                        *test_results_left.load(self.n_out),
                        *test_vectors_left.load(staged_vectors),
                        *test_passes_left.load(count),
                    ]
                    with m.If(count_zero):
                        parser.goto("reply")
                    with m.Elif(reply_idle):
                        m.d.sync += [testing.eq(1), replay_request.eq(1), replay_once.eq(0)]
                        parser.goto("self-test-drain")
                with parser.State("self-test-drain"):  # until the last result is in the checksum
                    with m.If(~testing):
                        parser.goto("reply")
            with parser.State("discard"):  # drop input until the line is quiet, then answer 'E'
                m.d.comb += take.eq(settled)
                with m.If(stopped_short):
                    parser.goto("error-reply")
            with parser.State("error-reply"):
                m.d.sync += [reply_tag.eq(ERROR_REPLY), reply_data_bytes.eq(1), reply_results.eq(0)]
                with m.If(overflow):
                    m.d.sync += reply_word.eq(LinkFault.OVERFLOW)
                with m.Elif(framing):
                    m.d.sync += reply_word.eq(LinkFault.FRAMING)
                with m.Else():
                    m.d.sync += reply_word.eq(fault)
                with m.If(reply_idle):
                    m.d.comb += reply_start.eq(1)
                    m.d.sync += [overflow.eq(0), framing.eq(0)]
                    parser.goto("command")

        reply_vectors = Mux(reply_results, count, 0)
        self._transmit(
            m, transmitter, start, transmitter_idle, reply_tag, reply_word, reply_data_bytes,
            test_checksum, reply_vectors, network_results,
        )  # fmt: skip
        return m

    def _transmit(self, m, transmitter, start, idle, tag, word, data_bytes, second_word,
                  vectors, results):  # fmt: skip
        """The answer's frame: ``tag``, ``data_bytes`` bytes of ``word`` (then of
        ``second_word`` if 8), then (``vectors`` > 0) every result of that many output
        vectors as they come from ``results`` (the network's, buffered), then the CRC of
        all of it. ``start`` loads the
        inputs while ``idle``; ``second_word`` is read when its turn comes."""
        out_bytes = value_bytes(self.out_bits)
        # every register here is loaded by ``start`` before it is used: no reset, which on
        # the iCE40 would be one more input of each enable
        head = Signal(8 + 32, reset_less=True)  # tag and data bytes, sent from the bottom
        head_left = Signal(range(6), reset_less=True)
        two_words = Signal(reset_less=True)  # ``second_word`` follows ``word``
        vectors_left = _Countdown(MAX_STREAM_VECTORS, "reply_vectors_left", reset_less=True)
        any_vectors = Signal(reset_less=True)
        vector_results_left = _Countdown(self.n_out, "vector_results_left", reset_less=True)
        result = Signal(8 * out_bytes, reset_less=True)  # a result's bytes, from the bottom
        result_bytes_left = Signal(range(out_bytes + 1), reset_less=True)
        crc_out = Signal(8, reset_less=True)
        sent = transmitter.bytes.valid & transmitter.bytes.ready
        with m.If(sent):
            m.d.sync += crc_out.eq(crc8_step(crc_out, transmitter.bytes.payload))
        transmit = _StateMachine(m, "transmit", ["idle", "head", "results", "crc"])
        with m.Switch(transmit.state):
            with transmit.State("idle"):
                m.d.comb += idle.eq(1)
                with m.If(start):
                    m.d.sync += [
                        head.eq(Cat(tag, word)),
                        head_left.eq(1 + Mux(data_bytes == 8, 4, data_bytes)),
                        two_words.eq(data_bytes == 8),
                        *vectors_left.load(vectors),
                        any_vectors.eq(vectors != 0),
                        *vector_results_left.load(self.n_out),
                        result_bytes_left.eq(0),
                        crc_out.eq(0),
                    ]
                    transmit.goto("head")
            with transmit.State("head"):
                m.d.comb += [transmitter.bytes.valid.eq(1), transmitter.bytes.payload.eq(head)]
                with m.If(transmitter.bytes.ready):
                    m.d.sync += [head.eq(head >> 8), head_left.eq(head_left - 1)]
                    with m.If((head_left == 1) & two_words):
                        m.d.sync += [head.eq(second_word), head_left.eq(4), two_words.eq(0)]
                    with m.Elif((head_left == 1) & any_vectors):
                        transmit.goto("results")
                    with m.Elif(head_left == 1):
                        transmit.goto("crc")
            with transmit.State("results"):
                with m.If(result_bytes_left == 0):
                    m.d.comb += results.ready.eq(1)
                    with m.If(results.valid):
                        m.d.sync += [
                            result.eq(results.payload.as_signed()),
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
                                    transmit.goto("crc")
            with transmit.State("crc"):
                m.d.comb += [transmitter.bytes.valid.eq(1), transmitter.bytes.payload.eq(crc_out)]
                with m.If(transmitter.bytes.ready):
                    transmit.goto("idle")
