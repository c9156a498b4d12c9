"""A serial port whose other end is a ``BoardTop`` in the Amaranth simulator.

``SimulatedSerial`` has the two methods ``HostClient`` uses (``write``, ``read``), so the
same client that drives a real board over pyserial drives the simulated top bit by bit: the
UART model here shifts the host's bytes onto ``rx`` and decodes ``tx``. Slow (pure Python,
roughly ten thousand cycles a second), so meant for tests and small demonstrations.
"""

from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from jaynes_hw.boards.top import BoardTop

CLOCK_PERIOD_S = 1e-6  # simulated time is arbitrary; one "microsecond" per cycle


class SimulatedSerial:
    """pyserial's ``read``/``write`` on a simulated board top.

    Parameters
    ----------
    top : BoardTop
        Build it with a small ``clock_hz / baud`` (e.g. 8 cycles per bit) to keep runs short.
    timeout_cycles : int
        How long ``read`` waits for a byte before returning what it has (like a serial
        timeout).
    """

    def __init__(self, top: BoardTop, timeout_cycles: int = 200_000):
        self.top = top
        self.divisor = top.divisor
        self.timeout_cycles = timeout_cycles
        self.to_board: deque[int] = deque()
        self.from_board: deque[int] = deque()
        self.cycles = 0
        self._deadline_cycles = 0
        self._sim = Simulator(top)
        self._sim.add_clock(CLOCK_PERIOD_S)
        self._sim.add_testbench(self._host_uart, background=True)

    async def _host_uart(self, ctx):
        """Drive ``rx`` from ``to_board`` and decode ``tx`` into ``from_board``, each cycle."""
        divisor = self.divisor
        send_bits: deque[int] = deque()
        send_wait = 0
        receive_timer = None  # cycles to the next sample of the byte being received
        receive_bits: list[int] = []
        async for _, _, tx in ctx.tick().sample(self.top.tx):
            self.cycles += 1
            # host -> board: one bit every ``divisor`` cycles
            if send_wait:
                send_wait -= 1
            else:
                if not send_bits and self.to_board:
                    byte = self.to_board.popleft()
                    send_bits.extend([0, *((byte >> i) & 1 for i in range(8)), 1])
                if send_bits:
                    ctx.set(self.top.rx, send_bits.popleft())
                    send_wait = divisor - 1
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
                        self.from_board.append(sum(b << i for i, b in enumerate(receive_bits[:8])))
                    receive_timer = None

    def write(self, data: bytes) -> int:
        self.to_board.extend(data)
        return len(data)

    def read(self, count: int) -> bytes:
        """Run the simulation until ``count`` bytes came back or ``timeout_cycles`` passed."""
        start = self.cycles
        step = 10 * self.divisor
        while len(self.from_board) < count and self.cycles - start < self.timeout_cycles:
            self._deadline_cycles += step
            self._sim.run_until(self._deadline_cycles * CLOCK_PERIOD_S)
        taken = min(count, len(self.from_board))
        return bytes(self.from_board.popleft() for _ in range(taken))
