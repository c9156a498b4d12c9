"""FPGA boards: a network behind a UART host link, on iCEBreaker (iCE40 UP5K) and ULX3S
(ECP5-85F) through amaranth-boards.

``BOARDS`` names the supported boards and ``board_platform`` gives a board's amaranth-boards
platform with the timing target nextpnr should aim for (importing this module costs
nothing; the platform is imported when asked for). ``jaynes_hw.boards.top.BoardTop`` is the
design that goes on the chip; ``jaynes_hw.boards.simulated_uart`` runs it in simulation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from jaynes_hw.errors import UserError


@dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform and the clock the core aims for."""

    name: str
    family: str  # "ice40" or "ecp5"
    platform_module: str
    platform_class: str
    fmax_target_mhz: float
    dsps: int  # multiplier blocks on the device (SB_MAC16 / MULT18X18D)

    def platform(self):
        import importlib

        try:
            module = importlib.import_module(self.platform_module)
        except ImportError:
            raise UserError(
                "board support needs amaranth-boards: pip install 'jaynes-hw[synth]'"
            ) from None
        return getattr(module, self.platform_class)()


BOARDS = {
    "icebreaker": Board(
        "icebreaker", "ice40", "amaranth_boards.icebreaker", "ICEBreakerPlatform", 48.0, 8
    ),
    "ulx3s": Board("ulx3s", "ecp5", "amaranth_boards.ulx3s", "ULX3S_85F_Platform", 100.0, 156),
}


def board_named(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise UserError(f"unknown board {name!r}; expected one of {', '.join(BOARDS)}") from None


def board_platform(board: Board, target_mhz: float | None = None):
    """The board's platform, its default clock constrained to ``target_mhz`` for nextpnr.

    The design still runs from the board's oscillator (``board_clock_hz`` tells its real
    frequency, which sets the UART divisor); the constraint only says how fast nextpnr must
    make it, and so what Fmax the report shows against. Returns (platform, board_clock_hz).
    """
    from amaranth.build import Clock

    platform = board.platform()
    key = (platform.default_clk, 0)
    resource = platform.resources[key]
    board_clock_hz = resource.clock.frequency
    if target_mhz is not None:
        retimed = copy.copy(resource)
        retimed.clock = Clock(target_mhz * 1e6)
        platform.resources[key] = retimed
    return platform, board_clock_hz
