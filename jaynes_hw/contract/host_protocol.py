"""The byte protocol a board top speaks on its UART: shared by the gateware and the client.

``jaynes_hw.gateware.host_link.HostLink`` decodes it on the chip (its ``m.Case`` arms are the
members of ``HostCommand``); ``jaynes_hw.boards.client.HostClient`` speaks it from the host
over any transport with pyserial's ``read(n)`` / ``write(data)``.

Commands (host to board; multi-byte fields little-endian)::

    'W' addr[4] data[4]           write a configuration word     -> 'W' once done
    'R' addr[4]                   read a configuration word      -> data[4]
    'X' count[2] value[count]     stream ``count`` input values  -> results, as produced
    'S'                           synchronise                    -> 'S'

Each input value is ``value_bytes(act_bits)`` bytes, each result ``value_bytes(out_bits)``
bytes, two's complement. Results come back whenever the network produces them, so a client
issues 'W', 'R' and 'S' only when no result is outstanding, and keeps at most
``RX_FIFO_BYTES`` bytes in flight (the board's receive FIFO; a byte that finds it full is
lost).
"""

from __future__ import annotations

import enum

RX_FIFO_BYTES = 512  # the board's receive FIFO (one iCE40 block RAM)
MAX_STREAM_VALUES = 0xFFFF  # the 'X' command's 16-bit count
DEFAULT_BAUD = 115_200


class HostCommand(enum.IntEnum):
    """The first byte of every command (and the one-byte reply of 'W' and 'S')."""

    WRITE = ord("W")
    READ = ord("R")
    STREAM = ord("X")
    SYNC = ord("S")


def value_bytes(bits: int) -> int:
    """Bytes a ``bits``-bit value takes on the link."""
    return (bits + 7) // 8
