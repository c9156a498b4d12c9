"""Stage 4, sim: the emitted Verilog judged by the reference under cocotb (Verilator or
Icarus).

- ``driver.StreamDriver``, ``monitor.StreamMonitor``, ``port.ConfigPortMaster``,
  ``scoreboard.check_outputs``: the testbench's pieces; ``bench.Bench`` puts them together
  with the clock, reset and the ``Design`` the outputs are judged by;
- ``budget``: the cycle budgets that bound every wait, so a broken design fails, not hangs;
- ``scenarios``: the cocotb tests (``runner.SCENARIOS`` names them);
- ``runner``: build with Verilator/Icarus and run the scenarios (``simulate``);
- ``bulk``: long runs at the simulator's own speed: a Verilog harness plays register writes
  and whole test sets, phase after phase (``playback``);
- ``command``: ``jaynes-hw sim``.

Importing this package does not import cocotb; ``bench`` and ``scenarios`` do (they run
inside the simulator).
"""

from jaynes_hw.sim.bulk import Phase, PhaseResult, playback
from jaynes_hw.sim.runner import (
    SCENARIOS,
    SIMULATORS,
    ScenarioResult,
    simulate,
    simulator_available,
)

__all__ = [
    "SCENARIOS",
    "SIMULATORS",
    "Phase",
    "PhaseResult",
    "ScenarioResult",
    "playback",
    "simulate",
    "simulator_available",
]
