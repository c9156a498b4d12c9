"""How long a correct design may take: the cycle budgets that bound every wait of the
testbench, so a broken design fails in seconds instead of hanging.

A design's worst honest timing comes from its manifest (``LayerConfig``): a layer spends
at most ``passes * max(n_in + 1, lanes + BANK_SLACK)`` cycles on a vector (the second term
when it is not ``full_rate``; a convolution's image: ``Convolution.image_cycles`` of that),
and a vector's last result leaves it ``pipeline_latency + lanes`` cycles after its last pass
(an unrolled layer: its vector time, at worst behind adapters taking n_in and giving n_out
values a cycle, and ``latency_cycles``). Vector v's last output is therefore expected
``fill + v * period`` cycles after its first input is offered, where ``fill`` sums every
layer's vector time and drain, and ``period`` is the slowest layer's vector time.

Random idle cycles on ``x`` (probability ``idle``) and dropped ``ready`` on ``y``
(probability ``backpressure``) stretch that by ``1 / ((1 - idle) * (1 - backpressure))``.
The budget is ``BUDGET_SLACK`` times the stretched figure plus ``BUDGET_MARGIN_CYCLES``:
loose enough that no correct design ever meets it, tight enough that a broken one fails
within a few vector periods of simulated time.

A configuration-bus access must be acknowledged within ``BUS_ACK_BUDGET_CYCLES``; the cores
acknowledge in 6 (``jaynes_hw.gateware.core``).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaynes_hw.contract.design import Design

BUDGET_SLACK = 2
BUDGET_MARGIN_CYCLES = 100
BUS_ACK_BUDGET_CYCLES = 64
# the wall-clock limit of a simulation: a floor for start-up, plus its cycle budget at a rate
# far below the slowest simulator's (Icarus on the default network: ~5,000 cycles/s)
WALL_CLOCK_FLOOR_S = 120
SLOWEST_CYCLES_PER_S = 1000
STREAMS_PER_SCENARIO = 4  # the most bench.stream calls a scenario makes (extremes: 2, ...)


class BudgetExceeded(AssertionError):
    """A wait of the testbench ran out of its cycle budget: the design did not answer."""


@dataclass(frozen=True)
class CycleBudget:
    """Cycle budgets of one design (``CycleBudget.of(design)``).

    Attributes
    ----------
    fill : int
        Cycles from vector 0's first input offered to its last output, y always ready.
    period : int
        Cycles between vectors' last outputs after that (the slowest layer's vector time).
    """

    fill: int
    period: int

    @classmethod
    def of(cls, design: Design) -> CycleBudget:
        vector_times, fill = [], 0
        for layer in design.layers:
            config = layer.config
            if config.unrolled:  # at worst behind adapters taking and giving a value a cycle
                vector_times.append(max(config.cycles_per_vector, config.n_in, config.n_out))
                fill += config.n_in + config.n_out + config.latency_cycles + vector_times[-1]
                continue
            per_pass = max(config.cycles_per_pass, config.lanes + config.BANK_SLACK)
            vector_time = config.passes * per_pass
            if layer.convolution is not None:  # an image: every position, and the pooling
                vector_time = layer.convolution.image_cycles(vector_time)
            vector_times.append(vector_time)
            fill += vector_time + config.pipeline_latency + config.lanes
        return cls(fill=fill, period=max(vector_times))

    def expected(self, vector: int) -> int:
        """Cycles after the first input by which a correct design, unhindered, has put out
        every result of ``vector`` (counted from 0)."""
        return self.fill + vector * self.period

    def linear(self, idle: float = 0.0, backpressure: float = 0.0) -> tuple[int, int]:
        """(first, per_vector): vector v's deadline is ``first + v * per_vector`` cycles after
        the first input offered, under random idle cycles and back-pressure of those
        probabilities (the form the bulk harness checks in Verilog)."""
        stretch = BUDGET_SLACK / ((1.0 - idle) * (1.0 - backpressure))
        return int(self.fill * stretch) + BUDGET_MARGIN_CYCLES, int(self.period * stretch)

    def deadline(self, vector: int, idle: float = 0.0, backpressure: float = 0.0) -> int:
        """The budget for ``vector``'s last output, in cycles after the first input offered,
        under random idle cycles and back-pressure of those probabilities."""
        first, per_vector = self.linear(idle, backpressure)
        return first + vector * per_vector


def wall_clock_limit(design: Design, vectors: int) -> float:
    """Seconds a simulation of ``vectors`` vectors may take before it is stopped: generous
    (``WALL_CLOCK_FLOOR_S`` plus every stream's whole cycle budget at
    ``SLOWEST_CYCLES_PER_S``), a backstop for a simulator that stops advancing time."""
    cycles = STREAMS_PER_SCENARIO * CycleBudget.of(design).deadline(max(vectors, 6), 0.5, 0.5)
    return WALL_CLOCK_FLOOR_S + cycles / SLOWEST_CYCLES_PER_S
