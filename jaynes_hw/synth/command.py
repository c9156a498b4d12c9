"""``jaynes-hw synth --board BOARD``: place and route a network behind its UART host link,
report its area and Fmax, write the bitstream; ``--compare`` builds a lognormal and an int8
core of the same shape and the host link alone, side by side."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from jaynes_hw.boards.definitions import BOARDS
from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.contract.layer_config import CORE_KINDS
from jaynes_hw.quantize.schemes import HARDWARE_SCHEMES
from jaynes_hw.support.arguments import positive_float, positive_int
from jaynes_hw.support.errors import UserError
from jaynes_hw.synth.compare import DEFAULT_COMPARE_BITS, DEFAULT_COMPARE_LANES

# nextpnr can place for hours on a design that nearly fills the device, or not at all
DEFAULT_TIMEOUT_MINUTES = 120

DESCRIPTION = (
    "Build a network with its UART host link for a board with the YoWASP tools (yosys, "
    "nextpnr) and report logic cells, flip-flops, block RAMs, DSPs and Fmax. --compare builds "
    "a lognormal and an int8 core of the same shape side by side."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--core", choices=CORE_KINDS, help="core kind")
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
        choices=HARDWARE_SCHEMES,
        default="lognormal",
        help="with --compare: the lognormal core's codebook scheme (lognormal)",
    )
    parser.add_argument(
        "--clock-mhz",
        type=positive_float,
        help="run the design from the PLL at the highest clock it makes at or below this "
        "(default: build at 48 MHz iCE40 / 100 MHz ECP5, then rebuild at the highest PLL "
        "clock at or below the Fmax reached)",
    )
    parser.add_argument(
        "--no-dsp",
        dest="dsp",
        action="store_false",
        help="build multipliers from LUTs instead of the DSP blocks",
    )
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD)
    parser.add_argument(
        "--no-self-test",
        dest="self_test",
        action="store_false",
        help="leave out the host link's on-chip self-test ('T', `jaynes-hw run --self-test`): "
        "about 280 iCE40 logic cells back",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="N",
        help="place and route with nextpnr seeds 1..N and keep the fastest (1)",
    )
    parser.add_argument(
        "--timeout-minutes",
        type=positive_float,
        default=DEFAULT_TIMEOUT_MINUTES,
        metavar="M",
        help="stop a build (Yosys, every seed and clock pass) that takes longer, with an "
        f"error ({DEFAULT_TIMEOUT_MINUTES:g}; with --compare, each of its three builds)",
    )
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


def _generate(out: Path, name: str, layers, provenance: dict) -> Path:
    """Write the generator's files for ``layers`` into ``out``; return the manifest."""
    from jaynes_hw.generate import render
    from jaynes_hw.support.files import write_text_files

    written = write_text_files(out, render(name, layers, provenance))
    return next(path for path in written if path.name == f"{name}.json")


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.boards.definitions import board_named
    from jaynes_hw.generate import build_plan, plan_generation
    from jaynes_hw.support.files import write_json
    from jaynes_hw.synth.compare import compare_layers, compare_reports, describe
    from jaynes_hw.synth.flow import synthesize
    from jaynes_hw.synth.reports import area_field

    board = board_named(args.board)
    area = area_field(board)
    out = args.out
    options = {
        "clock_mhz": args.clock_mhz,
        "baud": args.baud,
        "dsp": args.dsp,
        "self_test": args.self_test,
        "seeds": tuple(range(1, args.seeds + 1)),
        "timeout_seconds": 60.0 * args.timeout_minutes,
    }
    if args.compare:
        if args.weights is not None or args.core is not None:
            raise UserError("--compare builds its own synthetic layer; no --weights or --core")
        # one build each at one clock: the comparison is of area and Fmax
        options["clock_mhz"] = args.clock_mhz or board.fmax_target_mhz
        built = compare_layers(_parse_shape(args.shape), args.lanes, args.bits, args.scheme)
        reports = {}
        for core, layers in built.items():
            name = f"compare_{core}"
            manifest = _generate(out, name, layers, {"synthetic": "jaynes-hw synth --compare"})
            print(f"building the {core} core for {board.name} ...", file=sys.stderr)
            report = synthesize(board.name, manifest, out / core, **options)
            reports[core] = describe(layers, report)
            _copy_bitstream(out / core, report, out / f"{name}_{board.name}")
        print(f"building the host link alone for {board.name} ...", file=sys.stderr)
        link = synthesize(board.name, None, out / "link_only", **options)
        ratio = compare_reports(reports["lognormal"], reports["int8"], link, area)
        document = {**reports, "link_only": link, "ratio": ratio}
        _print_comparison(document, area)
    else:
        plan = plan_generation(args.config, args.weights, args.core)
        layers = build_plan(plan)
        # the manifest and memory files beside the bitstream: `jaynes-hw run --manifest`
        manifest = _generate(out, plan.name, layers, plan.provenance)
        print(f"building {plan.name} for {board.name} ...", file=sys.stderr)
        report = synthesize(board.name, manifest, out / plan.name, **options)
        document = describe(layers, report)
        document["bitstream"] = str(
            _copy_bitstream(out / plan.name, report, out / f"{plan.name}_{board.name}")
        )
        _print_single(plan.name, document, area)
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
        f"Fmax {report['fmax_mhz']} MHz"
    )
    passes = ", ".join(
        f"{entry['clock_mhz']:g} MHz -> "
        + ("failed to place and route" if entry.get("failed") else f"Fmax {entry['fmax_mhz']}")
        for entry in report["clock_passes"]
    )
    met = "meets timing" if report["timing_met"] else "MISSES timing"
    print(f"clock: PLL {report['clock_mhz']:g} MHz, {met} (builds: {passes})")
    print(
        f"vectors/s: core {report['core_vectors_per_s_at_clock']} at the clock, host link "
        f"{report['link_vectors_per_s']} at {report['baud']} baud: the board delivers "
        f"{report['board_vectors_per_s']}"
    )
    if len(report["fmax_by_seed"]) > 1:
        by_seed = ", ".join(f"{seed}: {fmax}" for seed, fmax in report["fmax_by_seed"].items())
        print(f"Fmax by nextpnr seed ({by_seed} MHz): kept seed {report['seed']}")
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
