"""The open FPGA flow: yosys, nextpnr and the bitstream packer (YoWASP builds), run on a
board top (``jaynes_hw.boards.export``) and the generator's network Verilog.

A build directory holds ``network.v`` (the generator's ``NAME.v``, absent for the host link
alone), ``top.v`` and the pin constraints (``top.pcf`` / ``top.lpf``); ``flow_commands``
gives the three commands run there, and ``boards/<board>/Makefile`` runs the very same
(``tests/synth/test_board_makefiles.py`` compares them). The clock target nextpnr works for
is in the constraints (48 MHz iCE40, 100 MHz ECP5); the bitstream runs from the board's
oscillator (12 MHz iCEBreaker, 25 MHz ULX3S).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jaynes_hw.boards.definitions import Board, board_named
from jaynes_hw.boards.export import TOP_VERILOG, board_files
from jaynes_hw.boards.top import LinkOnly, NetworkInstance
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.contract.manifest import Manifest
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import write_text_files
from jaynes_hw.support.tools import tool_versions, yowasp_environment
from jaynes_hw.synth.reports import failure_reason, read_reports

NETWORK_VERILOG = "network.v"
BITSTREAM = {"ice40": "top.bin", "ecp5": "top.bit"}
# synth_<family> option by family and "map multipliers to DSP blocks"
DSP_OPTIONS = {"ice40": {True: "-dsp", False: ""}, "ecp5": {True: "", False: "-nodsp"}}


@dataclass(frozen=True)
class Command:
    """One step of the flow: a tool (by the environment variable naming it: ``YOSYS``,
    ``NEXTPNR_ICE40`` ...) and its arguments, run in the build directory."""

    tool: str
    arguments: tuple[str, ...]


def flow_commands(board: Board, *, network: bool = True, seed: int = 1, dsp: bool = True):
    """The commands that turn a build directory's Verilog into ``top.bin`` / ``top.bit``.

    ``network``: read ``network.v`` beside ``top.v`` (False for the host link alone).
    """
    family = board.family
    sources = ([NETWORK_VERILOG] if network else []) + [TOP_VERILOG]
    synth = " ".join(
        part
        for part in (f"synth_{family}", DSP_OPTIONS[family][dsp], *board.synth_options, "-top top")
        if part
    )
    script = (
        f"read_verilog {' '.join(sources)}; {synth}; tee -q -o stat.json stat -json; "
        "write_json top.json"
    )
    place = (
        "--quiet", "--report", "report.json", "--seed", str(seed), "--timing-allow-fail",
        "--log", "top.tim", *board.nextpnr_device, "--json", "top.json",
    )  # fmt: skip
    if family == "ice40":
        return [
            Command("YOSYS", ("-q", "-l", "top.rpt", "-p", script)),
            Command("NEXTPNR_ICE40", (*place, "--pcf", "top.pcf", "--asc", "top.asc")),
            Command("ICEPACK", ("top.asc", "top.bin")),
        ]
    return [
        Command("YOSYS", ("-q", "-l", "top.rpt", "-p", script)),
        Command("NEXTPNR_ECP5", (*place, "--lpf", "top.lpf", "--textcfg", "top.config")),
        Command("ECPPACK", ("--compress", "--input", "top.config", "--bit", "top.bit")),
    ]


def run_flow(
    board: Board,
    files: dict[str, str],
    build_dir: Path,
    *,
    seeds=(1,),
    dsp=True,
    timeout_seconds: float | None = None,
) -> dict:
    """Write ``files`` into ``build_dir``, run ``flow_commands`` there, return the report.

    With several nextpnr ``seeds``, Yosys runs once and placement and routing once per seed
    (seed N beyond the first in ``build_dir/seedN``); the build directory ends up holding
    the bitstream, report and timing log of the seed that reached the highest Fmax. The
    report gives that seed, and every seed's Fmax in ``fmax_by_seed``.

    Raises ``UserError`` with the reason when a step fails (most often: the design does not
    fit, or needs more DSP blocks than the device has), or when the whole flow takes longer
    than ``timeout_seconds`` (the running tool is killed)."""
    env = yowasp_environment(board.family)
    build_dir = Path(build_dir)
    write_text_files(build_dir, files)
    started = time.monotonic()
    network = NETWORK_VERILOG in files
    reports = {}
    for index, seed in enumerate(seeds):
        commands = flow_commands(board, network=network, seed=seed, dsp=dsp)
        directory = build_dir
        if index:  # the netlist is the first seed's: only place, route and pack again
            directory = build_dir / f"seed{seed}"
            directory.mkdir(exist_ok=True)
            for name in ("top.json", "stat.json", board.constraints_file):
                shutil.copyfile(build_dir / name, directory / name)
            commands = commands[1:]
        for command in commands:
            remaining = None
            if timeout_seconds is not None:
                remaining = max(timeout_seconds - (time.monotonic() - started), 0.0)
            try:
                completed = subprocess.run(
                    [env[command.tool], *command.arguments],
                    cwd=directory,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=remaining,
                )
            except subprocess.TimeoutExpired:
                raise UserError(
                    f"the build timed out after {timeout_seconds:g} s (in {command.tool.lower()})"
                ) from None
            if completed.returncode != 0:
                raise UserError(failure_reason(board, directory))
        reports[seed] = read_reports(board, directory)
    best = max(seeds, key=lambda seed: reports[seed]["fmax_mhz"] or 0.0)
    if best != seeds[0]:
        for name in (BITSTREAM[board.family], "report.json", "top.tim"):
            shutil.copyfile(build_dir / f"seed{best}" / name, build_dir / name)
    report = reports[best]
    report.update(
        {
            "board": board.name,
            "device": board.platform().device,
            "dsp_mapping": dsp,
            "bitstream": BITSTREAM[board.family],
            "seed": best,
            "fmax_by_seed": {str(seed): reports[seed]["fmax_mhz"] for seed in seeds},
            "seconds": round(time.monotonic() - started, 1),
            "tools": tool_versions(),
        }
    )
    return report


def synthesize(
    board_name: str,
    manifest_path: Path | None,
    build_dir: Path,
    *,
    target_mhz: float | None = None,
    baud: int = DEFAULT_BAUD,
    seeds: tuple[int, ...] = (1,),
    dsp: bool = True,
    timeout_seconds: float | None = None,
) -> dict:
    """Build the generated design of ``manifest_path`` (None: the host link alone) behind
    its host link for a board; returns the report (``jaynes_hw.synth.reports``), the
    bitstream being ``build_dir / report["bitstream"]``.

    ``dsp``: map multipliers to the device's DSP blocks (8 on the UP5K, 156 on the
    ECP5-85F); otherwise build them from LUTs. ``seeds``: nextpnr placement seeds; the
    build keeps the one with the highest Fmax (``run_flow``). ``timeout_seconds``: fail the
    build (``UserError``) when it takes longer.
    """
    board = board_named(board_name)
    target_mhz = board.fmax_target_mhz if target_mhz is None else target_mhz
    if manifest_path is None:
        files = board_files(board, LinkOnly(), target_mhz=target_mhz, baud=baud)
    else:
        manifest = Manifest.read(manifest_path)
        files = board_files(board, NetworkInstance(manifest), target_mhz=target_mhz, baud=baud)
        files[NETWORK_VERILOG] = (Path(manifest_path).parent / manifest.verilog).read_text()
    report = run_flow(
        board, files, build_dir, seeds=seeds, dsp=dsp, timeout_seconds=timeout_seconds
    )
    board_clock_hz = board.platform().default_clk_frequency
    report.update(
        {"fmax_target_mhz": target_mhz, "board_clock_mhz": board_clock_hz / 1e6, "baud": baud}
    )
    return report
