"""The design that goes on the chip: a network behind its UART host link.

The network is either built here (a ``Network``, for the Amaranth simulator) or, for the
FPGA flow, a ``NetworkInstance``: the generated Verilog module instantiated by name, so the
board top is synthesized together with exactly the Verilog the generator wrote.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal, signed
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.contract.manifest import CLOCK, Manifest
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.host_link import HostLink
from jaynes_hw.gateware.network import Network
from jaynes_hw.support.errors import UserError


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; a rate the clock cannot make within 2% is refused."""
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise UserError(f"baud rate {baud} is too fast for a {clock_hz / 1e6:g} MHz clock")
    if abs(clock_hz / divisor - baud) > 0.02 * baud:
        raise UserError(
            f"a {clock_hz / 1e6:g} MHz clock cannot make {baud} baud within 2% "
            f"(nearest {clock_hz / divisor:.0f})"
        )
    return divisor


class BoardTop(Elaboratable):
    """A network and its host link: everything the chip holds.

    Parameters
    ----------
    network : Network
        Or any component with the same ``x``, ``y`` and ``bus`` members (``LinkOnly``).
    clock_hz : float
        Frequency of the clock the design runs from (sets the UART divisor).
    baud : int
        UART bit rate (default 115200).

    On a platform the UART is the board's ``uart`` resource; without one (simulation) the
    lines are ``rx`` (in) and ``tx`` (out) here.
    """

    def __init__(self, network: Network, clock_hz: float, baud: int = DEFAULT_BAUD):
        divisor = uart_divisor(clock_hz, baud)
        self.network = network
        self.clock_hz, self.baud, self.divisor = clock_hz, baud, divisor
        self.link = HostLink(
            divisor, len(network.bus.addr), len(network.x.payload), len(network.y.payload)
        )
        self.rx = Signal(init=1)
        self.tx = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.network = network = self.network
        m.submodules.link = link = self.link
        wiring.connect(m, link.x, network.x)
        wiring.connect(m, network.y, link.y)
        wiring.connect(m, link.bus, network.bus)
        if platform is None:
            m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]
        else:
            # every line of the board's UART raw (the ULX3S adds RTS and DTR: left unused)
            lines = [line.name for line in platform.lookup("uart", 0).ios]
            uart = platform.request("uart", 0, dir=dict.fromkeys(lines, "-"))
            m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
            m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
            m.d.comb += [link.rx.eq(rx_buffer.i), tx_buffer.o.eq(link.tx)]
        return m


class LinkOnly(wiring.Component):
    """Stands in for a network to measure the host link alone: ``y`` is ``x``, and the bus
    acknowledges everything with 0."""

    def __init__(self, act_bits: int = 8, address_bits: int = 16):
        super().__init__(
            {
                "x": In(stream.Signature(signed(act_bits))),
                "y": Out(stream.Signature(signed(act_bits))),
                "bus": In(ConfigBus(address_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        wiring.connect(m, wiring.flipped(self.x), wiring.flipped(self.y))
        ack = Signal()
        m.d.sync += ack.eq((self.bus.w_stb | self.bus.r_stb) & ~ack)
        m.d.comb += self.bus.ack.eq(ack)
        return m


class NetworkInstance(wiring.Component):
    """A generated network's Verilog module (``manifest.top``), instantiated by name.

    Its members are the network's (``x``, ``y``, ``bus``), widths from the manifest; the
    module itself comes from the generator's ``NAME.v``, read by the synthesis tool beside
    the board top.
    """

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        first, last = manifest.layers[0].config, manifest.layers[-1].config
        super().__init__(
            {
                "x": In(stream.Signature(signed(first.act_bits))),
                "y": Out(stream.Signature(signed(last.out_bits))),
                "bus": In(ConfigBus(manifest.bus_address_bits)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        ports = {
            f"i_{CLOCK['port']}": ClockSignal(),
            f"i_{CLOCK['reset']}": ResetSignal(allow_reset_less=True),
        }
        for path, member, value in self.signature.flatten(self):
            name = "__".join(str(part) for part in path)
            ports[("i_" if member.flow == In else "o_") + name] = value
        m.submodules.network = Instance(self.manifest.top, **ports)
        return m
