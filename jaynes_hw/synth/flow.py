"""The open FPGA flow: yosys, nextpnr and the bitstream packer (YoWASP builds), run on a
board top (``jaynes_hw.boards.export``) and the generator's network Verilog.

A build directory holds ``network.v`` (the generator's ``NAME.v``, absent for the host link
alone), ``top.v`` and the pin constraints (``top.pcf`` / ``top.lpf``); ``flow_commands``
gives the three commands run there, and ``boards/<board>/Makefile`` runs the very same
(``tests/synth/test_board_makefiles.py`` compares them). The design runs from the board's
PLL, fed by its oscillator (12 MHz iCEBreaker, 25 MHz ULX3S, the frequency the pin
constraints give); nextpnr derives the PLL's output clock and reports the Fmax against it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jaynes_hw.boards.definitions import Board, board_named
from jaynes_hw.boards.export import TOP_VERILOG, board_files, board_pll
from jaynes_hw.boards.top import LinkOnly, NetworkInstance
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.contract.manifest import Manifest
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import write_text_files
from jaynes_hw.support.tools import tool_versions, yowasp_environment
from jaynes_hw.synth.reports import failure_reason, read_reports

NETWORK_VERILOG = "network.v"
CLOCK_PASSES = 4  # builds at most, finding the clock
# after a build that missed its clock, the next aims this far under the Fmax it reached: a
# rebuild's placement moves Fmax by a few percent, so aiming at the Fmax itself misses again
# about half the time
MISS_MARGIN = 0.03
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
    started: float | None = None,
) -> dict:
    """Write ``files`` into ``build_dir``, run ``flow_commands`` there, return the report.

    With several nextpnr ``seeds``, Yosys runs once and placement and routing once per seed
    (seed N beyond the first in ``build_dir/seedN``); the build directory ends up holding
    the bitstream, report and timing log of the seed that reached the highest Fmax. The
    report gives that seed, and every seed's Fmax in ``fmax_by_seed``.

    Raises ``UserError`` with the reason when a step fails (most often: the design does not
    fit, or needs more DSP blocks than the device has), or when the whole flow takes longer
    than ``timeout_seconds`` counted from ``started`` (``time.monotonic()``; default now; the
    running tool is killed)."""
    env = yowasp_environment(board.family)
    build_dir = Path(build_dir)
    write_text_files(build_dir, files)
    if started is None:
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
                tool = command.tool.lower().replace("_", "-")
                raise UserError(
                    f"the build timed out after {timeout_seconds:g} s (in {tool})"
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
    clock_mhz: float | None = None,
    baud: int = DEFAULT_BAUD,
    seeds: tuple[int, ...] = (1,),
    dsp: bool = True,
    self_test: bool = True,
    timeout_seconds: float | None = None,
) -> dict:
    """Build the generated design of ``manifest_path`` (None: the host link alone) behind
    its host link for a board; returns the report (``jaynes_hw.synth.reports``), the
    bitstream being ``build_dir / report["bitstream"]``.

    The design runs from the board's PLL at ``clock_mhz`` (the highest PLL clock at or below
    it that makes ``baud``). Without ``clock_mhz``, the clock is found (``_find_clock``): a
    first build at the board's ``fmax_target_mhz``, then rebuilds at PLL clocks under the
    Fmax the build before reached, keeping the fastest build that met its clock. The report
    gives ``clock_mhz`` (what the chip runs at), ``timing_met``, the PLL's settings and
    every pass's clock and Fmax (``clock_passes``; a failed pass has ``failed``, its reason).

    ``dsp``: map multipliers to the device's DSP blocks (8 on the UP5K, 156 on the
    ECP5-85F); otherwise build them from LUTs. ``self_test``: build the host link's
    on-chip self-test ('T'). ``seeds``: nextpnr placement seeds; each build
    keeps the one with the highest Fmax (``run_flow``). ``timeout_seconds``: fail
    (``UserError``) when all the builds together take longer.
    """
    board = board_named(board_name)
    if manifest_path is None:
        network, network_verilog = LinkOnly(), None
    else:
        manifest = Manifest.read(manifest_path)
        in_spram = [entry for entry in manifest.layers if entry.config.code_memory == "spram"]
        if in_spram and board.family != "ice40":
            raise UserError(
                f"{len(in_spram)} layer(s) keep their codes in SPRAM (code_memory = 'spram'), "
                f"which only the iCE40 UltraPlus has: build them for icebreaker, or with "
                f"code_memory = 'block' for {board.name}"
            )
        network = NetworkInstance(manifest)
        network_verilog = (Path(manifest_path).parent / manifest.verilog).read_text()
    started = time.monotonic()

    def build(pll, directory, seeds):
        files = board_files(board, network, pll=pll, baud=baud, self_test=self_test)
        if network_verilog is not None:
            files[NETWORK_VERILOG] = network_verilog
        return run_flow(
            board,
            files,
            directory,
            seeds=seeds,
            dsp=dsp,
            timeout_seconds=timeout_seconds,
            started=started,
        )

    pll = board_pll(board, clock_mhz, baud)
    if clock_mhz is not None:
        report = build(pll, Path(build_dir), seeds)
        passes = [{"clock_mhz": round(pll.output_hz / 1e6, 6), "fmax_mhz": report["fmax_mhz"]}]
    else:
        pll, report, passes = _find_clock(board, baud, pll, seeds, build, Path(build_dir))
    fmax_mhz = report["fmax_mhz"]
    report.update(
        {
            "clock_mhz": round(pll.output_hz / 1e6, 6),
            "timing_met": _meets(fmax_mhz, pll),
            "pll": pll.to_json(),
            "clock_passes": passes,
            "oscillator_mhz": pll.input_hz / 1e6,
            "baud": baud,
            "self_test": self_test,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    return report


def _meets(fmax_mhz: float | None, pll) -> bool:
    return fmax_mhz is not None and fmax_mhz * 1e6 >= pll.output_hz


def _met(built):
    """The (pll, report, directory) entries of ``built`` that met their clock."""
    return [entry for entry in built if _meets(entry[1]["fmax_mhz"], entry[0])]


def _find_clock(board: Board, baud: int, pll, seeds, build, build_dir: Path):
    """Find the fastest PLL clock a build meets, in at most ``CLOCK_PASSES`` builds (pass N
    in ``build_dir/passN``), each ``build(pll, directory, seeds)``:

    - after a build that met its clock, the next aims at the highest PLL clock at or below
      the Fmax it reached (a climb); after one that missed, ``MISS_MARGIN`` under it;
    - the search stops when that clock is no faster than one a build already met;
    - a rebuild that fails (nextpnr's placer can fail near a full device where another
      build placed) is retried once at the same clock with the next seeds, then ends the
      search; it is recorded in ``passes`` with its reason. A failing first build raises
      ``UserError``.

    Keeps the fastest build that met its clock (else the one whose Fmax came closest to its
    clock) and copies its files into ``build_dir``. Returns (pll, report, passes)."""
    built = []  # (pll, report, directory)
    passes = []
    retried = False
    while len(passes) < CLOCK_PASSES:
        directory = build_dir / f"pass{len(passes) + 1}"
        clock_mhz = round(pll.output_hz / 1e6, 6)
        try:
            report = build(pll, directory, seeds)
        except UserError as error:
            if not built:
                raise
            passes.append({"clock_mhz": clock_mhz, "fmax_mhz": None, "failed": str(error)})
            if retried:
                break
            retried, seeds = True, tuple(seed + len(seeds) for seed in seeds)
            continue
        built.append((pll, report, directory))
        fmax_mhz = report["fmax_mhz"]
        passes.append({"clock_mhz": clock_mhz, "fmax_mhz": fmax_mhz})
        if fmax_mhz is None:
            break
        target_mhz = fmax_mhz if _meets(fmax_mhz, pll) else fmax_mhz * (1 - MISS_MARGIN)
        try:
            fitted = board_pll(board, target_mhz, baud)
        except UserError:
            break  # no PLL clock that makes the baud rate is that slow
        if any(fitted.output_hz <= entry[0].output_hz for entry in _met(built)):
            break  # no faster clock than one already met left to try
        pll = fitted
    met = _met(built)
    if met:
        pll, report, directory = max(met, key=lambda entry: entry[0].output_hz)
    else:
        pll, report, directory = max(
            built, key=lambda entry: (entry[1]["fmax_mhz"] or 0.0) * 1e6 / entry[0].output_hz
        )
    for path in directory.iterdir():
        if path.is_file():
            shutil.copyfile(path, build_dir / path.name)
    return pll, report, passes
