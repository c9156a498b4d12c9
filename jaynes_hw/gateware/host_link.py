"""The board side of the host link: UART bytes in and out, the network's streams and
configuration bus on the other side (protocol: ``jaynes_hw.contract.host_protocol``)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import RX_FIFO_BYTES, HostCommand, value_bytes
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.stream_fifo import StreamFIFO
from jaynes_hw.gateware.uart import UARTReceiver, UARTTransmitter


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

    Received bytes wait in a ``RX_FIFO_BYTES`` FIFO (one block RAM), so the network may stall
    its input while it works on earlier vectors; a byte arriving at a full FIFO is lost.
    """

    def __init__(self, divisor: int, address_bits: int, act_bits: int, out_bits: int):
        if address_bits > 32:
            raise ValueError(f"the host link carries 32-bit addresses, not {address_bits}")
        self.divisor = divisor
        self.act_bits, self.out_bits = act_bits, out_bits
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
        m.submodules.rx_fifo = rx_fifo = StreamFIFO(8, RX_FIFO_BYTES)
        m.d.comb += [
            receiver.rx.eq(self.rx),
            self.tx.eq(transmitter.tx),
            rx_fifo.w.payload.eq(receiver.data),
            rx_fifo.w.valid.eq(receiver.strobe),
        ]
        # One register after the FIFO: the parser decodes a flip-flop beside it, not block
        # RAM output from across the chip.
        byte = Signal(8)
        byte_valid = Signal()
        take = Signal()  # the parser consumes ``byte`` this cycle
        refill = ~byte_valid | take
        m.d.comb += rx_fifo.r.ready.eq(refill)
        with m.If(refill):
            m.d.sync += [byte.eq(rx_fifo.r.payload), byte_valid.eq(rx_fifo.r.valid)]

        # Values for ``x`` leave through a two-entry FIFO: the network's ``ready`` ends there
        # instead of running on into the parser's state machine.
        m.submodules.x_fifo = x_fifo = StreamFIFO(self.act_bits, 2)
        wiring.connect(m, x_fifo.r, wiring.flipped(self.x))

        # --- transmit side: whole results first, then a command's reply ----------------------
        out_bytes = value_bytes(self.out_bits)
        # ``tx_idle`` (tx_left == 0) is a flip-flop of its own: it is the network's y.ready,
        # which fans out into the last layer's finish pipeline.
        tx_word = Signal(32)
        tx_left = Signal(range(5))
        tx_idle = Signal(init=1)
        reply_pending = Signal()
        reply_word = Signal(32)
        reply_length = Signal(range(5))
        m.d.comb += [
            transmitter.bytes.valid.eq(~tx_idle),
            transmitter.bytes.payload.eq(tx_word[:8]),
            self.y.ready.eq(tx_idle),
        ]
        with m.If(~tx_idle):
            with m.If(transmitter.bytes.ready):
                m.d.sync += [
                    tx_word.eq(tx_word >> 8),
                    tx_left.eq(tx_left - 1),
                    tx_idle.eq(tx_left == 1),
                ]
        with m.Elif(self.y.valid):
            m.d.sync += [
                tx_word.eq(self.y.payload.as_signed()),
                tx_left.eq(out_bytes),
                tx_idle.eq(0),
            ]
        with m.Elif(reply_pending):
            m.d.sync += [
                tx_word.eq(reply_word),
                tx_left.eq(reply_length),
                tx_idle.eq(reply_length == 0),
                reply_pending.eq(0),
            ]

        # --- command parser -----------------------------------------------------------------
        in_bytes = value_bytes(self.act_bits)
        field = Signal(32)  # bytes of the current field, shifted in from the top
        field_left = Signal(range(5))
        address = Signal(32)
        values_left = Signal(16)
        value_bytes_left = Signal(range(in_bytes + 1))
        shifted_in = (byte << 24) | (field >> 8)  # ``field`` once this byte is taken

        # The bus is driven from registers only (no parser logic in front of the network's
        # address decoders): a strobe rises with the request's last byte, falls with ack.
        write_strobe, read_strobe = Signal(), Signal()
        m.d.comb += [
            self.bus.addr.eq(address),
            self.bus.w_data.eq(field),
            self.bus.w_stb.eq(write_strobe),
            self.bus.r_stb.eq(read_strobe),
        ]

        def reply(word, length):
            m.d.sync += [reply_pending.eq(1), reply_word.eq(word), reply_length.eq(length)]

        with m.FSM():
            with m.State("command"):
                m.d.comb += take.eq(byte_valid)
                with m.If(byte_valid):
                    with m.Switch(byte):
                        with m.Case(HostCommand.WRITE):
                            m.d.sync += field_left.eq(4)
                            m.next = "write-address"
                        with m.Case(HostCommand.READ):
                            m.d.sync += field_left.eq(4)
                            m.next = "read-address"
                        with m.Case(HostCommand.STREAM):
                            m.d.sync += field_left.eq(2)
                            m.next = "stream-count"
                        with m.Case(HostCommand.SYNC):
                            m.next = "sync"
                        # anything else is skipped

            def collect(next_state, on_done=()):
                """Shift ``field_left`` bytes into ``field`` and go to ``next_state``."""
                m.d.comb += take.eq(byte_valid)
                with m.If(byte_valid):
                    m.d.sync += [field.eq(shifted_in), field_left.eq(field_left - 1)]
                    with m.If(field_left == 1):
                        m.d.sync += list(on_done)
                        m.next = next_state

            with m.State("write-address"):
                collect("write-data", [field_left.eq(4), address.eq(shifted_in)])
            with m.State("write-data"):
                collect("write-bus", [write_strobe.eq(1)])
            with m.State("write-bus"):
                with m.If(self.bus.ack):
                    m.d.sync += write_strobe.eq(0)
                    m.next = "write-reply"
            with m.State("write-reply"):
                with m.If(~reply_pending):
                    reply(HostCommand.WRITE, 1)
                    m.next = "command"

            with m.State("read-address"):
                collect("read-bus", [address.eq(shifted_in), read_strobe.eq(1)])
            with m.State("read-bus"):
                with m.If(self.bus.ack):
                    m.d.sync += [field.eq(self.bus.r_data), read_strobe.eq(0)]
                    m.next = "read-reply"
            with m.State("read-reply"):
                with m.If(~reply_pending):
                    reply(field, 4)
                    m.next = "command"

            with m.State("sync"):
                with m.If(~reply_pending):
                    reply(HostCommand.SYNC, 1)
                    m.next = "command"

            with m.State("stream-count"):
                count = shifted_in[16:]
                m.d.comb += take.eq(byte_valid)
                with m.If(byte_valid):
                    m.d.sync += [field.eq(shifted_in), field_left.eq(field_left - 1)]
                    with m.If(field_left == 1):
                        m.d.sync += [values_left.eq(count), value_bytes_left.eq(in_bytes)]
                        m.next = "stream-value"
                        with m.If(count == 0):
                            m.next = "command"
            with m.State("stream-value"):
                m.d.comb += take.eq(byte_valid)
                with m.If(byte_valid):
                    m.d.sync += [field.eq(shifted_in), value_bytes_left.eq(value_bytes_left - 1)]
                    with m.If(value_bytes_left == 1):
                        m.next = "stream-send"
            with m.State("stream-send"):
                value = field[32 - 8 * in_bytes :]
                m.d.comb += [x_fifo.w.valid.eq(1), x_fifo.w.payload.eq(value[: self.act_bits])]
                with m.If(x_fifo.w.ready):
                    m.d.sync += [values_left.eq(values_left - 1), value_bytes_left.eq(in_bytes)]
                    m.next = "stream-value"
                    with m.If(values_left == 1):
                        m.next = "command"
        return m
