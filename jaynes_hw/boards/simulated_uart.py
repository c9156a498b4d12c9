"""A serial port whose other end is a ``BoardTop`` in the Amaranth simulator.

``SimulatedSerial`` has the two methods ``HostClient`` uses (``write``, ``read``), so the
same client that drives a real board over pyserial drives the simulated top bit by bit: the
UART model here shifts the host's bytes onto ``rx`` and decodes ``tx``. Slow (pure Python,
roughly ten thousand cycles a second), so meant for tests and small demonstrations.

``inject`` puts line faults on the wire, in either direction (``LineFault``): a glitch
shorter than a bit, a flipped bit, a dropped byte.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from jaynes_hw.boards.top import BoardTop
from jaynes_hw.contract.registers import REG_ID

CLOCK_PERIOD_S = 1e-6  # simulated time is arbitrary; one "microsecond" per cycle


@dataclass(frozen=True)
class LineFault:
    """One fault on the wire.

    ``kind``: ``"glitch"`` (the line inverted for ``cycles`` clock cycles, starting
    ``offset`` cycles into bit ``bit`` of the frame: 0 the start bit, 1..8 the data bits,
    9 the stop bit; bit -1: on the idle line just before the byte), ``"flip"`` (data bit
    ``bit`` 0..7 inverted) or ``"drop"`` (the byte never arrives). ``to_board``: on the
    host's line (else on the board's). ``byte``: which byte, counted from the first sent in
    that direction after ``inject``.
    """

    kind: str
    byte: int
    bit: int = 0
    to_board: bool = True
    offset: int = 0
    cycles: int = 1


class SimulatedSerial:
    """pyserial's ``read``/``write`` on a simulated board top.

    Parameters
    ----------
    top : BoardTop
        Build it with a small ``clock_hz / baud`` (e.g. 8 cycles per bit) to keep runs short.
    timeout_cycles : int
        How long ``read`` waits for a byte before returning what it has (like a serial
        timeout); by default twice the board's idle timeout and 20 byte times, so a read
        that returns nothing means the board is listening for a command again.
    """

    def __init__(self, top: BoardTop, timeout_cycles: int | None = None):
        self.top = top
        self.divisor = top.divisor
        if timeout_cycles is None:
            timeout_cycles = 2 * top.idle_timeout_cycles + 200 * top.divisor
        self.timeout_cycles = timeout_cycles
        self.to_board: deque[int] = deque()
        self.from_board: deque[int] = deque()
        self.faults: list[LineFault] = []
        self._sent = self._received = 0  # bytes on each line since the last ``inject``
        self._sending = False  # the host's line is still carrying written bytes
        self.cycles = 0
        self._deadline_cycles = 0
        self._sim = Simulator(top)
        self._sim.add_clock(CLOCK_PERIOD_S)
        self._sim.add_testbench(self._host_uart, background=True)

    def inject(self, *faults: LineFault) -> None:
        """Put ``faults`` on the wire; their ``byte`` counts from the next byte each way."""
        self.faults = list(faults)
        self._sent = self._received = 0

    def _fault(self, to_board: bool, index: int) -> LineFault | None:
        for fault in self.faults:
            if fault.to_board == to_board and fault.byte == index:
                return fault
        return None

    def _levels(self, byte: int) -> list[int]:
        """The host line, cycle by cycle, for ``byte`` (and its fault, if any)."""
        fault = self._fault(True, self._sent)
        self._sent += 1
        if fault is not None and fault.kind == "drop":
            return []
        if fault is not None and fault.kind == "flip":
            byte ^= 1 << fault.bit
        bits = [0, *((byte >> i) & 1 for i in range(8)), 1]
        levels = [level for bit in bits for level in [bit] * self.divisor]
        if fault is not None and fault.kind == "glitch":
            if fault.bit < 0:  # a pulse on the idle line, then a bit of idle
                return [0] * fault.cycles + [1] * self.divisor + levels
            first = fault.bit * self.divisor + fault.offset
            for cycle in range(first, min(first + fault.cycles, len(levels))):
                levels[cycle] ^= 1
        return levels

    def _received_byte(self, byte: int) -> None:
        fault = self._fault(False, self._received)
        self._received += 1
        if fault is not None and fault.kind == "drop":
            return
        if fault is not None and fault.kind in ("flip", "glitch"):
            byte ^= 1 << max(fault.bit, 0) % 8
        self.from_board.append(byte)

    async def _host_uart(self, ctx):
        """Drive ``rx`` from ``to_board`` and decode ``tx`` into ``from_board``, each cycle."""
        divisor = self.divisor
        send_levels: deque[int] = deque()
        receive_timer = None  # cycles to the next sample of the byte being received
        receive_bits: list[int] = []
        async for _, _, tx in ctx.tick().sample(self.top.tx):
            self.cycles += 1
            # host -> board: one level a cycle
            while not send_levels and self.to_board:
                send_levels.extend(self._levels(self.to_board.popleft()))
            if send_levels:
                ctx.set(self.top.rx, send_levels.popleft())
            self._sending = bool(send_levels)
            # board -> host: sample in the middle of each bit
            if receive_timer is None:
                if not tx:
                    receive_timer = divisor + divisor // 2 - 1
                    receive_bits = []
            elif receive_timer:
                receive_timer -= 1
            else:
                receive_bits.append(int(tx))
                receive_timer = divisor - 1
                if len(receive_bits) == 9:  # 8 data bits and the stop bit
                    if receive_bits[8]:
                        self._received_byte(sum(b << i for i, b in enumerate(receive_bits[:8])))
                    receive_timer = None

    def write(self, data: bytes) -> int:
        self.to_board.extend(data)
        return len(data)

    @property
    def timeout(self) -> float:
        """The read timeout in the board's seconds (pyserial's attribute)."""
        return self.timeout_cycles / self.top.clock_hz

    def read(self, count: int) -> bytes:
        """Run the simulation until ``count`` bytes came back or ``timeout_cycles`` passed
        since the last written byte left (a serial port's write returns before the bytes are
        on the wire; its read timeout is counted from the read, long after)."""
        start = self.cycles
        step = 10 * self.divisor
        while len(self.from_board) < count and self.cycles - start < self.timeout_cycles:
            if self._sending or self.to_board:
                start = self.cycles
            self._deadline_cycles += step
            self._sim.run_until(self._deadline_cycles * CLOCK_PERIOD_S)
        taken = min(count, len(self.from_board))
        return bytes(self.from_board.popleft() for _ in range(taken))


def random_line_fault(
    rng, frame_bytes: int, answer_bytes: int, divisor: int
) -> tuple[str, str, LineFault]:
    """A fault of a random kind on a random byte of a command frame (``frame_bytes`` long)
    or of its answer, as (what must become of it, its kind, the fault). What must become of
    it: ``"filtered"`` (the receiver's vote and start-bit check never let it through) or
    ``"detected"`` (a CRC, the idle timeout or the client's read timeout catches it)."""
    kinds = [
        ("filtered", "one-cycle glitch", lambda byte: LineFault(
            "glitch", byte, bit=int(rng.integers(0, 10)), offset=int(rng.integers(0, divisor)))),
        ("filtered", "idle glitch", lambda byte: LineFault(
            "glitch", byte, bit=-1, cycles=divisor // 2 - 1)),
        ("detected", "glitch across a sample", lambda byte: LineFault(
            "glitch", byte, bit=int(rng.integers(1, 9)), offset=1, cycles=divisor - 2)),
        ("detected", "flipped bit", lambda byte: LineFault(
            "flip", byte, bit=int(rng.integers(0, 8)))),
        ("detected", "dropped byte", lambda byte: LineFault("drop", byte)),
        ("detected", "flipped bit (answer)", lambda byte: LineFault(
            "flip", byte, bit=int(rng.integers(0, 8)), to_board=False)),
        ("detected", "dropped byte (answer)", lambda byte: LineFault(
            "drop", byte, to_board=False)),
    ]  # fmt: skip
    outcome, name, make = kinds[int(rng.integers(0, len(kinds)))]
    length = answer_bytes if "answer" in name else frame_bytes
    return outcome, name, make(int(rng.integers(0, length)))


@dataclass(frozen=True)
class FaultTrial:
    """What became of one command under one line fault (``faulty_command``)."""

    outcome: str  # what must become of it: "filtered" or "detected"
    name: str  # the fault's kind
    fault: LineFault
    correct: bool  # the client returned the right answer
    retries: int  # faults the client met (and retried) on the way


def faulty_command(
    client, port: SimulatedSerial, rng, inputs, expected, identity: int, divisor: int
) -> FaultTrial:
    """Half the time stream ``inputs`` and compare with ``expected`` (the reference
    outputs), else read the first layer's ID register and compare with ``identity``; with a
    ``random_line_fault`` on the wire during that one command (``divisor``: cycles a bit)."""
    streaming = bool(rng.integers(0, 2))
    frame_bytes, answer_bytes = 6, 6  # 'R' addr[4] crc -> 'R' data[4] crc
    if streaming:
        frame_bytes = 4 + inputs.size * client.in_bytes  # 'X' count[2] values crc
        answer_bytes = 2 + expected.size * client.out_bytes  # 'X' results crc
    outcome, name, fault = random_line_fault(rng, frame_bytes, answer_bytes, divisor)
    before = client.faults.total()
    port.inject(fault)
    try:
        if streaming:
            correct = bool(np.array_equal(client.infer(inputs), expected))
        else:
            correct = client.read(REG_ID) == identity
    finally:
        port.inject()
    return FaultTrial(outcome, name, fault, correct, client.faults.total() - before)
