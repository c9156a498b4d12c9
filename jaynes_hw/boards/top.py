"""The design that goes on the chip: a network behind its UART host link.

The network is either built here (a ``Network``, for the Amaranth simulator) or, for the
FPGA flow, a ``NetworkInstance``: the generated Verilog module instantiated by name, so the
board top is synthesized together with exactly the Verilog the generator wrote.
"""

from __future__ import annotations

from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
    signed,
)
from amaranth.lib import io, stream, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from jaynes_hw.boards.clocking import PllSettings
from jaynes_hw.contract.host_protocol import (
    BAUD_TOLERANCE,
    DEFAULT_BAUD,
    IDLE_TIMEOUT_S,
    MIN_CYCLES_PER_BIT,
    RX_FIFO_BYTES,
)
from jaynes_hw.contract.manifest import CLOCK, Manifest
from jaynes_hw.gateware.bus import ConfigBus
from jaynes_hw.gateware.host_link import HostLink
from jaynes_hw.gateware.network import Network
from jaynes_hw.support.errors import UserError


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; a rate the clock cannot make within ``BAUD_TOLERANCE``, or
    with fewer than ``MIN_CYCLES_PER_BIT`` cycles a bit, is refused (``UserError``)."""
    divisor = round(clock_hz / baud)
    if divisor < MIN_CYCLES_PER_BIT:
        raise UserError(
            f"baud rate {baud} is too fast for a {clock_hz / 1e6:g} MHz clock (the receiver "
            f"needs {MIN_CYCLES_PER_BIT} cycles a bit)"
        )
    if abs(clock_hz / divisor - baud) > BAUD_TOLERANCE * baud:
        raise UserError(
            f"a {clock_hz / 1e6:g} MHz clock cannot make {baud} baud within "
            f"{BAUD_TOLERANCE:.0%} (nearest {clock_hz / divisor:.0f})"
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
        UART bit rate (``DEFAULT_BAUD``, 3 Mbaud).
    idle_timeout_s : float
        A quiet line this long ends a command that stopped short (``IDLE_TIMEOUT_S``).
    rx_fifo_bytes : int
        The host link's receive FIFO (``RX_FIFO_BYTES``).
    pll : PllSettings, optional
        On a platform: the PLL that makes ``clock_hz`` from the board's oscillator (its
        ``output_hz`` must be ``clock_hz``); the design is held in reset until it locks.
        Without one, the design runs from the oscillator, which must then be ``clock_hz``.
    self_test : bool
        Build the host link's on-chip self-test ('T'; ``HostLink``).

    On a platform the UART is the board's ``uart`` resource; without one (simulation) the
    lines are ``rx`` (in) and ``tx`` (out) here.
    """

    def __init__(
        self,
        network: Network,
        clock_hz: float,
        baud: int = DEFAULT_BAUD,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        rx_fifo_bytes: int = RX_FIFO_BYTES,
        pll: PllSettings | None = None,
        self_test: bool = True,
    ):
        if pll is not None and pll.output_hz != clock_hz:
            raise ValueError(f"the PLL makes {pll.output_hz} Hz, not clock_hz {clock_hz}")
        divisor = uart_divisor(clock_hz, baud)
        self.pll = pll
        self.network = network
        self.clock_hz, self.baud, self.divisor = clock_hz, baud, divisor
        self.idle_timeout_cycles = max(round(idle_timeout_s * clock_hz), 1)
        self.link = HostLink(
            divisor,
            len(network.bus.addr),
            len(network.x.payload),
            len(network.y.payload),
            n_in=network.n_in,
            n_out=network.n_out,
            idle_timeout_cycles=self.idle_timeout_cycles,
            rx_fifo_bytes=rx_fifo_bytes,
            self_test=self_test,
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
            if self.pll is not None:
                self._clock_from_pll(m, platform)
            # every line of the board's UART raw (the ULX3S adds RTS and DTR: left unused)
            lines = [line.name for line in platform.lookup("uart", 0).ios]
            uart = platform.request("uart", 0, dir=dict.fromkeys(lines, "-"))
            m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
            m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
            m.d.comb += [link.rx.eq(rx_buffer.i), tx_buffer.o.eq(link.tx)]
        return m

    def _clock_from_pll(self, m: Module, platform) -> None:
        """The ``sync`` domain from the PLL, held in reset until the PLL locks."""
        m.domains.sync = ClockDomain("sync")
        pad = platform.request(platform.default_clk, 0, dir="-")
        if self.pll.family == "ice40":  # the pad feeds the PLL itself (it shares its site)
            oscillator = pad.io
        else:
            m.submodules.oscillator_buffer = oscillator_buffer = io.Buffer("i", pad)
            oscillator = oscillator_buffer.i
        locked = Signal()
        m.submodules.pll = pll_instance(self.pll, oscillator, ClockSignal("sync"), locked)
        m.submodules.reset_until_locked = ResetSynchronizer(~locked, domain="sync")


class LinkOnly(wiring.Component):
    """Stands in for a network to measure the host link alone: ``y`` is ``x`` (vectors of
    ``n`` values), and the bus acknowledges everything with 0."""

    def __init__(self, act_bits: int = 8, address_bits: int = 16, n: int = 1):
        self.n_in = self.n_out = n
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
        self.n_in, self.n_out = first.n_in, last.n_out
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


def pll_instance(settings: PllSettings, clock_in, clock_out, locked) -> Instance:
    """The PLL primitive: ``clock_in`` (the board oscillator: its pad on the iCE40, whose
    PLL sits on that pad's site, a clock signal on the ECP5) to ``clock_out``; ``locked``
    rises once the output is stable."""
    p = settings.parameters
    if settings.family == "ice40":
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_DIVR=p["DIVR"],
            p_DIVF=p["DIVF"],
            p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"],
            i_PACKAGEPIN=clock_in,
            i_RESETB=1,
            i_BYPASS=0,
            o_PLLOUTGLOBAL=clock_out,
            o_LOCK=locked,
        )
    return Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{settings.input_hz / 1e6:g}",
        a_FREQUENCY_PIN_CLKOP=f"{settings.output_hz / 1e6:.6f}",
        a_ICP_CURRENT="12",
        a_LPF_RESISTOR="8",
        a_MFG_ENABLE_FILTEROPAMP="1",
        a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED",
        p_INTFB_WAKE="DISABLED",
        p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED",
        p_OUTDIVIDER_MUXA="DIVA",
        p_CLKOP_ENABLE="ENABLED",
        p_CLKI_DIV=p["CLKI_DIV"],
        p_CLKFB_DIV=p["CLKFB_DIV"],
        p_CLKOP_DIV=p["CLKOP_DIV"],
        p_CLKOP_CPHASE=(p["CLKOP_DIV"] - 1) // 2,
        p_CLKOP_FPHASE=0,
        p_FEEDBK_PATH="CLKOP",
        i_CLKI=clock_in,
        i_CLKFB=clock_out,
        i_RST=0,
        i_STDBY=0,
        i_PHASESEL0=0,
        i_PHASESEL1=0,
        i_PHASEDIR=0,
        i_PHASESTEP=0,
        i_PHASELOADREG=0,
        i_PLLWAKESYNC=0,
        i_ENCLKOP=0,
        o_CLKOP=clock_out,
        o_LOCK=locked,
    )
