"""``jaynes-hw analyze WEIGHTS``: per-layer lognormal fits of a weight file, with the nulls."""

from __future__ import annotations

import argparse
import sys

from jaynes_hw.support.arguments import positive_int, unit_fraction
from jaynes_hw.weights.registry import SUFFIXES_HELP

DESCRIPTION = (
    "Fit the weight-magnitude population of every layer of WEIGHTS: lognormal MLE, the "
    "Jaynes Machine paper's size-weighted fit with R^2, and a comparison against Gaussian "
    "and Student-t nulls."
)


def add_layer_selection(parser: argparse.ArgumentParser) -> None:
    """``--min-size`` and ``--layers``: which tensors count as layers (analyze, quantize)."""
    parser.add_argument(
        "--min-size",
        type=positive_int,
        default=10_000,
        help="smallest tensor (elements) that counts as a layer (default 10000)",
    )
    parser.add_argument("--layers", metavar="REGEX", help="only tensors whose name matches")


def warn_skipped(skipped: list[dict[str, str]]) -> None:
    """One warning line on stderr per layer that could not be processed."""
    for item in skipped:
        print(f"jaynes-hw: warning: skipped {item['name']}: {item['reason']}", file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "weights", help=f"weight file: {SUFFIXES_HELP} (or a safetensors *.index.json / folder)"
    )
    add_layer_selection(parser)
    parser.add_argument(
        "--include-vectors",
        action="store_true",
        help="also analyse 1-D tensors (biases, normalisation scales)",
    )
    parser.add_argument(
        "--floor",
        type=unit_fraction,
        default=1e-4,
        help="ignore |w|/max|w| below this as dead weights (default 1e-4)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the analysis as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write one CSV row per layer")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots (needs jaynes-hw[plots])")
    parser.add_argument(
        "--histograms",
        action="store_true",
        help="include each layer's size-weighted histogram in the JSON",
    )


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.analyze.file_analysis import SelectOptions, analyze_file
    from jaynes_hw.analyze.fit import FitOptions
    from jaynes_hw.analyze.report import format_table, write_analysis_csv, write_plots
    from jaynes_hw.support.extras import require_extra
    from jaynes_hw.support.files import write_json

    if args.plots:
        require_extra("matplotlib", "plots", "plotting")  # fail before the work, not after
    analysis = analyze_file(
        args.weights,
        SelectOptions(args.min_size, args.layers, args.include_vectors),
        FitOptions(floor=args.floor),
    )
    print(format_table(analysis))
    warn_skipped(analysis.skipped)
    if args.json:
        write_json(args.json, analysis.to_json(include_histograms=args.histograms))
    if args.csv:
        write_analysis_csv(args.csv, analysis)
    if args.plots:
        written = write_plots(args.plots, analysis)
        print(f"wrote {len(written)} plots to {args.plots}")
    return 0
