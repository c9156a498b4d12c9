"""A board top small and quick enough for the Amaranth simulator."""

from __future__ import annotations

from jaynes_hw.boards.top import BoardTop

CYCLES_PER_BIT = 8
BAUD = 115_200
IDLE_TIMEOUT_BYTES = 40  # byte times of quiet that end a command that stopped short


def simulated_top(network, **options) -> BoardTop:
    """``BoardTop(network)`` at 8 cycles a bit, its idle timeout 40 byte times."""
    clock_hz = CYCLES_PER_BIT * BAUD
    idle_timeout_s = IDLE_TIMEOUT_BYTES * 10 / BAUD
    return BoardTop(network, clock_hz, BAUD, idle_timeout_s=idle_timeout_s, **options)
