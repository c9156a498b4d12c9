"""The ``jaynes-hw`` command: one subcommand per stage of the pipeline.

Errors a user can cause print one line ``jaynes-hw: error: ...`` on stderr and exit 1
(usage errors exit 2, from argparse); set ``JAYNES_HW_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from jaynes_hw import __version__
from jaynes_hw.errors import UserError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def _unit_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), not {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), not {value}")
    return value


def _add_analyze(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="per-layer lognormal fits of a weight file",
        description="Fit the weight-magnitude population of every layer of WEIGHTS: lognormal "
        "MLE, the Jaynes Machine paper's size-weighted fit with R^2, and a comparison against "
        "Gaussian and Student-t nulls.",
    )
    parser.add_argument(
        "weights",
        help="weight file: .npz .npy .safetensors (or its "
        "*.index.json / folder) .onnx .tflite .pt/.pth/.bin .gguf",
    )
    parser.add_argument(
        "--min-size",
        type=_positive_int,
        default=10_000,
        help="smallest tensor (elements) that counts as a layer (default 10000)",
    )
    parser.add_argument("--layers", metavar="REGEX", help="only tensors whose name matches")
    parser.add_argument(
        "--include-vectors",
        action="store_true",
        help="also analyse 1-D tensors (biases, normalisation scales)",
    )
    parser.add_argument(
        "--floor",
        type=_unit_fraction,
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
    parser.set_defaults(run=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    from jaynes_hw.outputs import write_json
    from jaynes_hw.population.analyze import SelectOptions, analyze_file
    from jaynes_hw.population.fit import FitOptions
    from jaynes_hw.population.report import format_table, write_analysis_csv, write_plots

    if args.plots:
        from jaynes_hw.population.loaders import require_extra

        require_extra("matplotlib", "plots")  # fail before the work, not after
    analysis = analyze_file(
        args.weights,
        SelectOptions(args.min_size, args.layers, args.include_vectors),
        FitOptions(floor=args.floor),
    )
    print(format_table(analysis))
    for skipped in analysis.skipped:
        print(
            f"jaynes-hw: warning: skipped {skipped['name']}: {skipped['reason']}", file=sys.stderr
        )
    if args.json:
        write_json(args.json, analysis.to_json(include_histograms=args.histograms))
    if args.csv:
        write_analysis_csv(args.csv, analysis)
    if args.plots:
        written = write_plots(args.plots, analysis)
        print(f"wrote {len(written)} plots to {args.plots}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaynes-hw",
        description="Design lognormally connected neural-network accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"jaynes-hw {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_analyze(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaynes-hw`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f"jaynes-hw: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jaynes-hw: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line unless debugging
        if os.environ.get("JAYNES_HW_DEBUG"):
            raise
        print(
            f"jaynes-hw: internal error: {type(error).__name__}: {error} "
            "(set JAYNES_HW_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
