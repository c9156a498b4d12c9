"""The board side of the host link: UART bytes in and out, the network's streams and
configuration bus on the other side (protocol: ``jaynes_hw.contract.host_protocol``)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import RX_FIFO_BYTES, HostCommand, value_bytes
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.datapath import balanced_or
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
        # RAM output from across the chip (the ECP5's takes 5.8 ns to appear). The
        # comparisons the parser makes of a byte are made the cycle after it is loaded,
        # into flags beside it; the byte is ``settled`` (offered to the parser) from then
        # on, until the parser takes it; the register refills the cycle after (so the FIFO's
        # ready is a gate on flip-flops). Bytes arrive hundreds of cycles apart: the parser
        # can spend three on each.
        byte = Signal(8)
        byte_valid = Signal()
        settled = Signal()
        byte_is = {
            command: Signal(name=f"byte_is_{command.name.lower()}") for command in HostCommand
        }
        byte_zero, byte_one = Signal(), Signal()
        take = Signal()  # the parser consumes ``byte`` this cycle
        taken = Signal()  # it did last cycle: the byte register takes the next byte
        refill = ~byte_valid | taken
        m.d.sync += taken.eq(take)
        m.d.comb += rx_fifo.r.ready.eq(refill)
        with m.If(refill):
            m.d.sync += [byte.eq(rx_fifo.r.payload), byte_valid.eq(rx_fifo.r.valid)]
        m.d.sync += [
            settled.eq(byte_valid & ~take & ~taken),  # the same byte, not yet taken
            byte_zero.eq(byte == 0),
            byte_one.eq(byte == 1),
        ]
        m.d.sync += [flag.eq(byte == command) for command, flag in byte_is.items()]

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
        # One flip-flop per state (one-hot), so every transition is a gate or two on
        # flip-flops.
        in_bytes = value_bytes(self.act_bits)
        field = Signal(32)  # bytes of the current field, shifted in from the top
        address = Signal(32)
        # Counts of bytes still to come as one-hot shift registers (the last one is one
        # flip-flop to test); values_left's "== 1" kept as a flag beside it.
        field_left = Signal(5)  # 1 << bytes left
        value_bytes_left = Signal(in_bytes + 1)  # 1 << bytes left
        values_left = Signal(16)
        last_value = Signal()  # values_left == 1
        previous_zero, previous_one = Signal(), Signal()  # the byte before ``byte``: 0, 1
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

        names = (
            "command", "write_address", "write_data", "write_bus", "write_reply",
            "read_address", "read_bus", "read_reply", "sync_reply",
            "stream_count", "stream_value", "stream_send",
        )  # fmt: skip
        state = {name: Signal(name=f"in_{name}", init=name == "command") for name in names}

        def go(source, target, *statements):
            m.d.sync += [state[source].eq(0), state[target].eq(1), *statements]

        def reply(word, length):
            return [reply_pending.eq(1), reply_word.eq(word), reply_length.eq(length)]

        collecting = ("write_address", "write_data", "read_address", "stream_count")
        m.d.comb += take.eq(
            settled
            & balanced_or([state[name] for name in ("command", *collecting, "stream_value")])
        )
        with m.If(take):
            m.d.sync += [
                field.eq(shifted_in),
                previous_zero.eq(byte_zero),
                previous_one.eq(byte_one),
            ]
        with m.If(take & balanced_or([state[name] for name in collecting])):
            m.d.sync += field_left.eq(field_left >> 1)
        field_done = settled & field_left[1]

        with m.If(state["command"] & settled):  # anything but a command byte is skipped
            with m.If(byte_is[HostCommand.WRITE]):
                go("command", "write_address", field_left.eq(1 << 4))
            with m.If(byte_is[HostCommand.READ]):
                go("command", "read_address", field_left.eq(1 << 4))
            with m.If(byte_is[HostCommand.STREAM]):
                go("command", "stream_count", field_left.eq(1 << 2))
            with m.If(byte_is[HostCommand.SYNC]):
                go("command", "sync_reply")

        with m.If(state["write_address"] & field_done):
            go("write_address", "write_data", field_left.eq(1 << 4), address.eq(shifted_in))
        with m.If(state["write_data"] & field_done):
            go("write_data", "write_bus", write_strobe.eq(1))
        with m.If(state["write_bus"] & self.bus.ack):
            go("write_bus", "write_reply", write_strobe.eq(0))
        with m.If(state["write_reply"] & ~reply_pending):
            go("write_reply", "command", *reply(HostCommand.WRITE, 1))

        with m.If(state["read_address"] & field_done):
            go("read_address", "read_bus", address.eq(shifted_in), read_strobe.eq(1))
        with m.If(state["read_bus"] & self.bus.ack):
            go("read_bus", "read_reply", field.eq(self.bus.r_data), read_strobe.eq(0))
        with m.If(state["read_reply"] & ~reply_pending):
            go("read_reply", "command", *reply(field, 4))

        with m.If(state["sync_reply"] & ~reply_pending):
            go("sync_reply", "command", *reply(HostCommand.SYNC, 1))

        with m.If(state["stream_count"] & field_done):
            # the count's high byte is ``byte``, its low byte the one before
            count = shifted_in[16:]
            start = [
                values_left.eq(count),
                last_value.eq(byte_zero & previous_one),
                value_bytes_left.eq(1 << in_bytes),
            ]
            with m.If(byte_zero & previous_zero):
                go("stream_count", "command")
            with m.Else():
                go("stream_count", "stream_value", *start)
        with m.If(state["stream_value"] & settled):
            m.d.sync += value_bytes_left.eq(value_bytes_left >> 1)
            with m.If(value_bytes_left[1]):
                go("stream_value", "stream_send")
        value = field[32 - 8 * in_bytes :]
        m.d.comb += [
            x_fifo.w.valid.eq(state["stream_send"]),
            x_fifo.w.payload.eq(value[: self.act_bits]),
        ]
        with m.If(state["stream_send"] & x_fifo.w.ready):
            m.d.sync += [
                values_left.eq(values_left - 1),
                last_value.eq(values_left == 2),
                value_bytes_left.eq(1 << in_bytes),
            ]
            with m.If(last_value):
                go("stream_send", "command")
            with m.Else():
                go("stream_send", "stream_value")
        return m
