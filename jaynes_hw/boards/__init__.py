"""Boards: what goes on the chip, and the host side that talks to it.

- ``definitions``: the supported boards (``BOARDS``: iCEBreaker, ULX3S) and their
  amaranth-boards platforms (``board_named``);
- ``clocking``: the PLL that makes the design's clock from the board's oscillator;
- ``top``: ``BoardTop``, a network behind its UART host link (``LinkOnly`` stands in for a
  network to measure the link alone);
- ``simulated_uart``: ``SimulatedSerial``, a serial port whose far end is a ``BoardTop`` in
  the Amaranth simulator;
- ``client``: ``HostClient``, the host side of the protocol;
- ``command``: ``jaynes-hw run``.

Importing this package imports only ``definitions``; the others import Amaranth or need
pyserial, and are imported by name.
"""

from jaynes_hw.boards.definitions import BOARDS, Board, board_named

__all__ = ["BOARDS", "Board", "board_named"]
