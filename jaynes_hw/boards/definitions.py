"""The supported boards, iCEBreaker (iCE40 UP5K) and ULX3S (ECP5-85F), through
amaranth-boards.

``BOARDS`` names them; ``Board.platform`` gives a board's amaranth-boards platform.
Importing this module costs nothing: the platform is imported when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra


@dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform and the clock the core aims for."""

    name: str
    family: str  # "ice40" or "ecp5"
    platform_module: str
    platform_class: str
    fmax_target_mhz: float  # the clock of a first build, before its Fmax is known
    dsps: int  # multiplier blocks on the device (SB_MAC16 / MULT18X18D)
    nextpnr_device: tuple[str, ...]  # nextpnr's device and package options
    synth_options: tuple[str, ...] = ()  # Yosys synth_<family> options for the device

    @property
    def constraints_file(self) -> str:
        """Name of the pin-constraints file in a build: ``top.pcf`` (iCE40), ``top.lpf``."""
        return "top.pcf" if self.family == "ice40" else "top.lpf"

    def platform(self):
        """A new amaranth-boards platform of the board (needs the ``synth`` extra)."""
        module = require_extra(self.platform_module, "synth", "board support (amaranth-boards)")
        return getattr(module, self.platform_class)()


BOARDS = {
    "icebreaker": Board(
        "icebreaker",
        "ice40",
        "amaranth_boards.icebreaker",
        "ICEBreakerPlatform",
        fmax_target_mhz=48.0,
        dsps=8,
        nextpnr_device=("--up5k", "--package", "sg48"),
        # ABC9 maps logic for the UP5K's own delays (the default is the faster HX's): the
        # default network gains ~7 MHz
        synth_options=("-device", "u"),
    ),
    "ulx3s": Board(
        "ulx3s",
        "ecp5",
        "amaranth_boards.ulx3s",
        "ULX3S_85F_Platform",
        fmax_target_mhz=100.0,
        dsps=156,
        nextpnr_device=("--85k", "--package", "CABGA381", "--speed", "6"),
    ),
}


def board_named(name: str) -> Board:
    """The board called ``name`` (one of ``BOARDS``), or ``UserError`` naming the choices."""
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; expected one of {', '.join(BOARDS)}") from None
