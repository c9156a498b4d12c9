"""The ``jaynes-hw`` command: a table of subcommands, each one stage's ``command`` module.

Only the chosen subcommand's module is imported, so ``jaynes-hw analyze`` never loads
Amaranth or cocotb. Every command module has ``DESCRIPTION``, ``add_arguments(parser)`` and
``run(args) -> int``. Errors a user can cause print one line ``jaynes-hw: error: ...`` on
stderr and exit 1 (usage errors exit 2, from argparse); set ``JAYNES_HW_DEBUG=1`` to see
tracebacks. Nothing in the package imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from jaynes_hw import __version__
from jaynes_hw.support.errors import run_reporting_errors

# command -> (its module, one line of help)
COMMANDS = {
    "analyze": ("jaynes_hw.analyze.command", "per-layer lognormal fits of a weight file"),
    "import": (
        "jaynes_hw.model.command",
        "an ONNX model into a network description (TOML + weights) for the generator",
    ),
    "quantize": (
        "jaynes_hw.quantize.command",
        "codes + tunable codebooks for every layer, compared with baselines",
    ),
    "generate": (
        "jaynes_hw.generate.command",
        "emit Verilog layer cores and their manifest (as python -m jaynes_hw.generate)",
    ),
    "sim": (
        "jaynes_hw.sim.command",
        "verify a design's Verilog with cocotb + Verilator against the reference",
    ),
    "sweep": (
        "jaynes_hw.sweep.command",
        "design-space exploration: a grid of points built on a Dask cluster, cached",
    ),
    "synth": (
        "jaynes_hw.synth.command",
        "place and route for an FPGA board; area and Fmax report, bitstream",
    ),
    "run": (
        "jaynes_hw.boards.command",
        "drive a board over its UART: check the design, stream vectors, compare",
    ),
    "demo": (
        "jaynes_hw.demo.command",
        "end to end on scikit-learn's digits: train, quantize, generate, simulate, "
        "retune through the port, iCEBreaker figure",
    ),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with the arguments of the subcommand named in ``argv`` (if any)."""
    parser = argparse.ArgumentParser(
        prog="jaynes-hw", description="Design lognormally connected neural-network accelerators."
    )
    parser.add_argument("--version", action="version", version=f"jaynes-hw {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((word for word in argv if not word.startswith("-")), None)
    for name, (module_name, help_line) in COMMANDS.items():
        if name != chosen:
            subparsers.add_parser(name, help=help_line)
            continue
        module = importlib.import_module(module_name)
        command = subparsers.add_parser(name, help=help_line, description=module.DESCRIPTION)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaynes-hw`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return run_reporting_errors(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
