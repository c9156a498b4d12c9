"""The ``jaynes-hw`` command: one subcommand per stage of the pipeline.

Errors a user can cause print one line ``jaynes-hw: error: ...`` on stderr and exit 1
(usage errors exit 2, from argparse); set ``JAYNES_HW_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from jaynes_hw import __version__
from jaynes_hw.errors import UserError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
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


def _warn_skipped(skipped: list[dict[str, str]]) -> None:
    for item in skipped:
        print(f"jaynes-hw: warning: skipped {item['name']}: {item['reason']}", file=sys.stderr)


def _add_layer_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-size",
        type=positive_int,
        default=10_000,
        help="smallest tensor (elements) that counts as a layer (default 10000)",
    )
    parser.add_argument("--layers", metavar="REGEX", help="only tensors whose name matches")


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
    _add_layer_selection(parser)
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
    _warn_skipped(analysis.skipped)
    if args.json:
        write_json(args.json, analysis.to_json(include_histograms=args.histograms))
    if args.csv:
        write_analysis_csv(args.csv, analysis)
    if args.plots:
        written = write_plots(args.plots, analysis)
        print(f"wrote {len(written)} plots to {args.plots}")
    return 0


def _scheme_list(text: str) -> list[str]:
    from jaynes_hw.quantize import ALL_SCHEMES

    schemes = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in schemes if item not in ALL_SCHEMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown scheme {unknown[0]!r}; expected some of {', '.join(ALL_SCHEMES)}"
        )
    return schemes


def _add_quantize(subparsers) -> None:
    from jaynes_hw.quantize import HARDWARE_SCHEMES

    parser = subparsers.add_parser(
        "quantize",
        help="codes + tunable codebooks for every layer, compared with baselines",
        description="Quantize every layer of WEIGHTS into per-connection codes (sign + "
        "magnitude bin) and a per-layer codebook of register levels; print SQNR against the "
        "baselines; write the codes and codebooks (the generator's input) with --out.",
    )
    parser.add_argument("weights", help="any weight file `jaynes-hw analyze` reads")
    parser.add_argument("--bits", type=int, default=4, help="code bits, sign included (2..8)")
    parser.add_argument("--scheme", choices=HARDWARE_SCHEMES, default="lognormal")
    parser.add_argument(
        "--compare",
        type=_scheme_list,
        default=None,
        metavar="LIST",
        help="comma-separated schemes to compare (default int,nf4,nf4-b64,"
        "pow2,lns at 4 bits; int,pow2,lns otherwise)",
    )
    parser.add_argument(
        "--pruned",
        action="store_true",
        help="reserve bin 0 for 'no connection' (its level held at 0)",
    )
    parser.add_argument(
        "--per-channel",
        action="store_true",
        help="a float scale per output channel on top of the codebook",
    )
    _add_layer_selection(parser)
    parser.add_argument("--out", metavar="FILE", help="write codes + codebooks (.npz)")
    parser.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    parser.set_defaults(run=_run_quantize)


def _run_quantize(args: argparse.Namespace) -> int:
    from jaynes_hw.codebook import check_bits
    from jaynes_hw.outputs import write_json
    from jaynes_hw.quantize_model import default_comparison, format_table, quantize_file
    from jaynes_hw.quantized_file import save_quantized

    bits = check_bits(args.bits)
    compare = args.compare if args.compare is not None else default_comparison(bits)
    result = quantize_file(
        args.weights,
        scheme=args.scheme,
        bits=bits,
        compare=compare,
        pruned=args.pruned,
        per_channel=args.per_channel,
        min_size=args.min_size,
        layers=args.layers,
    )
    print(format_table(result))
    _warn_skipped(result.skipped)
    if args.out:
        save_quantized(
            args.out,
            result.layers,
            source=str(args.weights),
            sqnr={row["name"]: row["sqnr_db"][args.scheme] for row in result.rows},
        )
        print(f"wrote {len(result.layers)} quantized layers to {args.out}")
    if args.json:
        write_json(args.json, result.to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaynes-hw",
        description="Design lognormally connected neural-network accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"jaynes-hw {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_analyze(subparsers)
    _add_quantize(subparsers)
    _add_generate(subparsers)
    _add_sim(subparsers)
    _add_synth(subparsers)
    _add_run(subparsers)
    _add_demo(subparsers)
    return parser


def _add_generate(subparsers) -> None:
    from jaynes_hw import generate

    parser = subparsers.add_parser(
        "generate",
        help="emit Verilog layer cores and their manifest (as python -m jaynes_hw.generate)",
        description="Emit Verilog for a network of layer cores, with its manifest. With no "
        "arguments: the built-in digits MLP, 4-bit lognormal codes, into ./rtl.",
    )
    generate.add_arguments(parser)
    parser.set_defaults(run=generate.run)


def _add_sim(subparsers) -> None:
    from jaynes_hw.sim import command

    parser = subparsers.add_parser(
        "sim",
        help="verify a design's Verilog with cocotb + Verilator against the reference",
        description="Run the cocotb testbench on a design's Verilog; exit 1 on any mismatch. "
        "With no design option: the built-in default network, generated first.",
    )
    command.add_arguments(parser)
    parser.set_defaults(run=command.run)


def _add_synth(subparsers) -> None:
    from jaynes_hw import synth

    parser = subparsers.add_parser(
        "synth",
        help="place and route for an FPGA board; area and Fmax report, bitstream",
        description="Build a network with its UART host link for a board with the YoWASP "
        "tools (yosys, nextpnr) and report logic cells, flip-flops, block RAMs, DSPs and Fmax. "
        "--compare builds a lognormal and an int8 core of the same shape side by side.",
    )
    synth.add_arguments(parser)
    parser.set_defaults(run=synth.run)


def _add_run(subparsers) -> None:
    from jaynes_hw import host

    parser = subparsers.add_parser(
        "run",
        help="drive a board over its UART: check the design, stream vectors, compare",
        description="Talk to a board programmed with a `jaynes-hw synth` bitstream: check "
        "that it holds the manifest's design, stream input vectors through it and compare "
        "every output with the bit-exact reference. Exit 1 on any difference.",
    )
    host.add_arguments(parser)
    parser.set_defaults(run=host.run)


def _add_demo(subparsers) -> None:
    from jaynes_hw import demo

    parser = subparsers.add_parser(
        "demo",
        help="end to end on scikit-learn's digits: train, quantize, generate, simulate, "
        "retune through the port, iCEBreaker figure",
        description="Train the 64-32-10 digits MLP, quantize it (4-bit lognormal), generate "
        "it, run the whole test split through the Verilator simulation (bit-exact against "
        "the reference), fit the codebooks on the training split with the codes frozen and "
        "write them into the running simulation, and report inferences/s on an iCEBreaker. "
        "Needs the demo, sim and synth extras.",
    )
    demo.add_arguments(parser)
    parser.set_defaults(run=demo.run)


def run_reporting_errors(action: Callable[[], int], program: str = "jaynes-hw") -> int:
    """Run ``action``; a user error, interrupt or bug becomes one line and an exit status."""
    try:
        return action()
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: still one line unless debugging
        if os.environ.get("JAYNES_HW_DEBUG"):
            raise
        print(
            f"{program}: internal error: {type(error).__name__}: {error} "
            "(set JAYNES_HW_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaynes-hw`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
