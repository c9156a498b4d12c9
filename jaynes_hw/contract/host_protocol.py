"""The byte protocol a board top speaks on its UART: shared by the gateware and the client.

``jaynes_hw.gateware.host_link.HostLink`` decodes it on the chip; ``jaynes_hw.boards.client.
HostClient`` speaks it from the host over any transport with pyserial's ``read(n)`` /
``write(data)``.

Every frame, in both directions, ends with a CRC-8 of the bytes before it (``crc8``:
polynomial 0x07, initial value 0, so a frame followed by its CRC has CRC 0). Multi-byte
fields are little-endian::

    host -> board                                  board -> host
    'S' crc                                        'S' crc
    'W' addr[4] data[4] crc                        'W' crc            once the write is done
    'R' addr[4] crc                                'R' data[4] crc
    'X' count[2] value[count * n_in] crc           'X' result[count * n_out] crc
    'T' passes[2] crc                              'T' cycles[4] checksum[4] crc
    (any error)                                    'E' code crc

'X' streams ``count`` whole input vectors; the board holds them (``staged_values``) until
the frame's CRC has checked, so nothing is ever computed from a corrupted input, then runs
them and sends every result. Each input value is ``value_bytes(act_bits)`` bytes, each
result ``value_bytes(out_bits)`` bytes, two's complement.

'T' is the on-chip self-test: the board runs the vectors the last 'X' staged ``passes``
times back to back at the core's full rate, sends no result but folds every one, in order,
into ``checksum`` (``results_checksum``), and counts ``cycles`` from the first value it
offers the network to the last result it takes; the host compares the checksum with the
reference's and divides. So a board proves the core's own rate without the link. Until an
'X' has checked (or after one that failed) there is nothing staged: 'E' NOTHING_STAGED.

On any error (``LinkError`` codes) the board drops what it receives until the line has been
quiet for its idle timeout, then answers 'E' and its code, and listens for a command again;
a command that stops short is the same error once the line stays quiet. The host recovers by
waiting for the line to be quiet for longer than that and sending the command again; every
command may be repeated safely (writes set registers, streams recompute the same results).
A byte that finds the receive FIFO full is counted as an overflow and fails the command it
belonged to: nothing is dropped silently. A client sends one command and waits for its
answer, so the FIFO fills only when a host breaks that rule.
"""

from __future__ import annotations

import enum

import numpy as np

RX_FIFO_BYTES = 512  # the board's receive FIFO (one iCE40 block RAM)
STAGED_VALUES = 512  # input values one 'X' may carry, at least one vector (a block RAM)
MAX_STREAM_VECTORS = 0xFFFF  # the 'X' command's 16-bit count
# The FT2232H on the iCEBreaker and the ULX3S carries 3 Mbaud (its 12 MHz / 4); the board's
# clock must make it within ``BAUD_TOLERANCE`` with at least ``MIN_CYCLES_PER_BIT``.
DEFAULT_BAUD = 3_000_000
BAUD_TOLERANCE = 0.02
MIN_CYCLES_PER_BIT = 8  # the receiver votes over three samples in the middle of each bit
IDLE_TIMEOUT_S = 0.02  # a quiet line this long ends a command that stopped short
ERROR_REPLY = ord("E")


class HostCommand(enum.IntEnum):
    """The first byte of every command (and of the board's answer to it)."""

    WRITE = ord("W")
    READ = ord("R")
    STREAM = ord("X")
    SYNC = ord("S")
    SELF_TEST = ord("T")


class LinkFault(enum.IntEnum):
    """The code in the board's 'E' answer: why it refused the command."""

    CHECKSUM = 1  # the frame's CRC did not check
    OVERFLOW = 2  # a byte arrived while the receive FIFO was full and was lost
    TIMEOUT = 3  # the command stopped short: the line went quiet before its last byte
    UNKNOWN = 4  # a byte that begins no command
    TOO_LONG = 5  # an 'X' of more vectors than the board holds (``batch_vectors``)
    FRAMING = 6  # a byte whose stop bit was 0 (line noise, or the wrong baud rate)
    NOTHING_STAGED = 7  # a 'T' before any 'X' has checked


HEADER_BYTES = {  # bytes between the command byte and the payload or the CRC
    HostCommand.SYNC: 0,
    HostCommand.WRITE: 8,
    HostCommand.READ: 4,
    HostCommand.STREAM: 2,
    HostCommand.SELF_TEST: 2,
}
MAX_SELF_TEST_PASSES = 0xFFFF  # the 'T' command's 16-bit count


def value_bytes(bits: int) -> int:
    """Bytes a ``bits``-bit value takes on the link."""
    return (bits + 7) // 8


def staged_values(n_in: int) -> int:
    """Input values the board holds for one 'X': ``STAGED_VALUES``, or one vector if longer."""
    return max(STAGED_VALUES, n_in)


def batch_vectors(n_in: int) -> int:
    """The most vectors one 'X' may carry for a network of ``n_in`` inputs."""
    return min(staged_values(n_in) // n_in, MAX_STREAM_VECTORS)


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8 (polynomial x^8 + x^2 + x + 1, initial value ``crc``, no reflection)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def framed(data: bytes) -> bytes:
    """``data`` followed by its CRC-8: one frame on the link."""
    return data + bytes([crc8(data)])


def link_bound_rate(baud: int, n_in: int, n_out: int, act_bits: int, out_bits: int) -> float:
    """Inferences per second the link carries at ``baud`` (10 bits a byte), one 'X' of
    ``batch_vectors`` at a time and its answer before the next (the board's compute time,
    a few microseconds a batch, left out: measure it with ``bench/bench_link.py``)."""
    vectors = batch_vectors(n_in)
    sent = 1 + 2 + vectors * n_in * value_bytes(act_bits) + 1
    received = 1 + vectors * n_out * value_bytes(out_bits) + 1
    return vectors * baud / 10 / (sent + received)


def network_link_rate(layers, baud: int) -> float:
    """``link_bound_rate`` of a chain of layers (anything ``PerInference``: manifest entries,
    built layers): the first layer's inputs in (an image for a convolution), the last
    layer's outputs back."""
    first, last = layers[0], layers[-1]
    return link_bound_rate(
        baud, first.values_in, last.values_out, first.config.act_bits, last.config.out_bits
    )


CHECKSUM_MASK = 0xFFFF_FFFF


def results_checksum(results, passes: int = 1) -> int:
    """The self-test's checksum of ``results`` (one pass of output values, in the order the
    board sends them) repeated ``passes`` times: for each value v, c = rotl32(c, 1) ^ v
    (v as 32-bit two's complement), from c = 0. A wrong value always changes it."""
    values = [int(value) & CHECKSUM_MASK for value in np.asarray(results).reshape(-1)]
    one_pass = 0
    for value in values:
        one_pass = _rotate_left(one_pass, 1) ^ value
    # the rotate-xor is linear: a pass turns c into rotl(c, len) ^ one_pass
    checksum, turn = 0, len(values) % 32
    for _ in range(passes):
        checksum = _rotate_left(checksum, turn) ^ one_pass
    return checksum


def _rotate_left(value: int, amount: int) -> int:
    return (value << amount | value >> (32 - amount)) & CHECKSUM_MASK if amount else value
