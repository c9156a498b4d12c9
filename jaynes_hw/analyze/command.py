"""``jaynes-hw analyze WEIGHTS...``: per-layer lognormal fits of weight files, with the nulls."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jaynes_hw.support.arguments import positive_int, unit_fraction
from jaynes_hw.support.cluster import add_cluster_arguments
from jaynes_hw.weights.registry import SUFFIXES_HELP

DESCRIPTION = (
    "Fit the weight-magnitude population of every layer of WEIGHTS: lognormal MLE, the "
    "Jaynes Machine paper's size-weighted fit with R^2, and a comparison against Gaussian "
    "and Student-t nulls. Several files (or a folder of them, or a quoted glob) get one "
    "table each and a summary across all; large work runs on local worker processes or a "
    "Dask cluster."
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
        "weights",
        nargs="*",
        help=f"weight files: {SUFFIXES_HELP} (or a safetensors *.index.json / folder), "
        "folders of them, or quoted glob patterns",
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
    parser.add_argument(
        "--activations",
        metavar="MODEL",
        type=Path,
        help="fit each layer's positive outputs instead of weights: an ONNX model (float "
        "inputs) or a generated design's manifest NAME.json (integer inputs); needs --inputs",
    )
    parser.add_argument(
        "--inputs", metavar="X.npy", type=Path, help="with --activations: the inputs (N, ...)"
    )
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.analyze.file_analysis import SelectOptions, analyze_files, summarize
    from jaynes_hw.analyze.fit import FitOptions
    from jaynes_hw.analyze.report import (
        format_summary,
        format_table,
        write_analysis_csv,
        write_plots,
    )
    from jaynes_hw.support.errors import UserError
    from jaynes_hw.support.extras import require_extra
    from jaynes_hw.support.files import write_json
    from jaynes_hw.weights.registry import expand_weight_paths

    if args.plots:
        require_extra("matplotlib", "plots", "plotting")  # fail before the work, not after
    started = time.perf_counter()
    if args.activations is not None:
        if args.weights or args.inputs is None:
            raise UserError("--activations takes a model and --inputs, and no weight files")
        from jaynes_hw.analyze.activations import analyze_activations

        analyses = [
            analyze_activations(args.activations, args.inputs, FitOptions(floor=args.floor))
        ]
    elif not args.weights:
        raise UserError("name at least one weight file (or --activations MODEL --inputs X.npy)")
    else:
        analyses = analyze_files(
            expand_weight_paths(args.weights),
            SelectOptions(args.min_size, args.layers, args.include_vectors),
            FitOptions(floor=args.floor),
            workers=args.workers,
            scheduler=args.scheduler,
        )
    for analysis in analyses:
        if len(analyses) > 1:
            print(f"== {analysis.source} ({analysis.format})")
        print(format_table(analysis, counted="outputs" if args.activations else "weights"))
        warn_skipped(analysis.skipped)
    if len(analyses) == 1:
        document = analyses[0].to_json(include_histograms=args.histograms)
    else:
        seconds = time.perf_counter() - started
        layers = [layer for analysis in analyses for layer in analysis.layers]
        summary = summarize(layers, seconds) | {"files": len(analyses)}
        print(f"== all {len(analyses)} files")
        print(format_summary(summary))
        document = {
            "files": [
                analysis.to_json(include_histograms=args.histograms) for analysis in analyses
            ],
            "summary": summary,
        }
    if args.json:
        write_json(args.json, document)
    if args.csv:
        write_analysis_csv(args.csv, analyses)
    if args.plots:
        written = write_plots(args.plots, analyses)
        print(f"wrote {len(written)} plots to {args.plots}")
    return 0
