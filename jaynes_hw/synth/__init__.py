"""Stage 5, synth: a generated network on an FPGA, with the open flow (YoWASP yosys and
nextpnr), beside an int8 core of the same shape.

- ``flow``: the commands (``flow_commands``, also run by ``boards/<board>/Makefile``),
  ``run_flow`` in a build directory, and ``synthesize`` for a generated design;
- ``reports``: what a build used and reached (``read_reports``, ``failure_reason``);
- ``compare``: the synthetic lognormal / int8 layer pair and their ratios;
- ``command``: ``jaynes-hw synth``.
"""

from jaynes_hw.synth.compare import compare_layers, compare_reports
from jaynes_hw.synth.flow import Command, flow_commands, run_flow, synthesize
from jaynes_hw.synth.reports import area_field, failure_reason, read_reports

__all__ = [
    "Command",
    "area_field",
    "compare_layers",
    "compare_reports",
    "failure_reason",
    "flow_commands",
    "read_reports",
    "run_flow",
    "synthesize",
]
