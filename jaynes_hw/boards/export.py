"""A board top as files for the open FPGA flow: ``top.v`` (the host link, clock and I/O
buffers, with the generated network instantiated by name) and the pin constraints.

``jaynes-hw synth`` and the board Makefiles (``boards/<board>/Makefile``) both synthesize
``top.v`` beside the generator's ``NAME.v``, with the same commands
(``jaynes_hw.synth.flow``)::

    python -m jaynes_hw.boards.export --board icebreaker --manifest rtl/digits_mlp.json \\
        --out build/          # writes build/top.v
    python -m jaynes_hw.boards.export --board icebreaker --constraints
                              # prints the pin constraints (boards/icebreaker/icebreaker.pcf)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaynes_hw.boards.clocking import PllSettings, pll_settings
from jaynes_hw.boards.definitions import BOARDS, Board, board_named
from jaynes_hw.boards.top import BoardTop, LinkOnly, NetworkInstance
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.contract.manifest import Manifest
from jaynes_hw.support.arguments import positive_float, positive_int
from jaynes_hw.support.errors import run_reporting_errors
from jaynes_hw.support.files import write_text_files

TOP_VERILOG = "top.v"


def board_pll(board: Board, clock_mhz: float | None = None, baud: int = DEFAULT_BAUD):
    """The board's PLL setting: the highest clock at or below ``clock_mhz`` (default the
    board's first-build target, ``fmax_target_mhz``) that makes ``baud``."""
    oscillator_hz = board.platform().default_clk_frequency
    most_hz = (board.fmax_target_mhz if clock_mhz is None else clock_mhz) * 1e6
    return pll_settings(board.family, oscillator_hz, most_hz, baud)


def board_files(
    board: Board,
    network: NetworkInstance | LinkOnly,
    *,
    pll: PllSettings | None = None,
    baud: int = DEFAULT_BAUD,
    self_test: bool = True,
) -> dict[str, str]:
    """``{"top.v": Verilog, "top.pcf" or "top.lpf": constraints}`` of ``BoardTop(network)``
    for ``board``, clocked by ``pll`` (default ``board_pll(board, baud=baud)``). The pin
    constraints give the oscillator's own frequency; nextpnr derives the PLL's output.
    ``self_test``: build the link's 'T' command."""
    pll = board_pll(board, baud=baud) if pll is None else pll
    platform = board.platform()
    top = BoardTop(network, pll.output_hz, baud, pll=pll, self_test=self_test)
    plan = platform.build(top, name="top", do_build=False, debug_verilog=True, emit_src=False)
    return {
        TOP_VERILOG: _text(plan.files["top.debug.v"]),
        board.constraints_file: _text(plan.files[board.constraints_file]),
    }


def _text(content: str | bytes) -> str:
    text = content if isinstance(content, str) else content.decode()
    return text if text.endswith("\n") else text + "\n"


def constraints(board: Board) -> str:
    """The board's pin constraints (what ``boards/<board>/`` commits)."""
    return board_files(board, LinkOnly())[board.constraints_file]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaynes_hw.boards.export",
        description="Write a generated network's board top (top.v) for the open FPGA flow, "
        "or print the board's pin constraints.",
    )
    parser.add_argument("--board", choices=tuple(BOARDS), required=True)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--manifest", type=Path, help="the network's manifest (NAME.json)")
    what.add_argument("--constraints", action="store_true", help="print the pin constraints")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory for top.v")
    parser.add_argument(
        "--clock-mhz",
        type=positive_float,
        help="the PLL's clock: the highest it makes at or below this (default: the board's "
        "first-build target, 48 MHz iCE40, 100 MHz ECP5)",
    )
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD)
    parser.add_argument(
        "--no-self-test",
        dest="self_test",
        action="store_false",
        help="leave out the link's on-chip self-test ('T'), about 280 iCE40 logic cells",
    )
    args = parser.parse_args(argv)

    def run() -> int:
        board = board_named(args.board)
        if args.constraints:
            sys.stdout.write(constraints(board))
            return 0
        network = NetworkInstance(Manifest.read(args.manifest))
        pll = board_pll(board, args.clock_mhz, args.baud)
        files = board_files(board, network, pll=pll, baud=args.baud, self_test=args.self_test)
        for path in write_text_files(args.out, {TOP_VERILOG: files[TOP_VERILOG]}):
            print(f"wrote {path}")
        return 0

    return run_reporting_errors(run, program="python -m jaynes_hw.boards.export")


if __name__ == "__main__":
    sys.exit(main())
