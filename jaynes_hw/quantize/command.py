"""``jaynes-hw quantize WEIGHTS``: codes + tunable codebooks for every layer, compared with
the baselines; ``--out`` writes the quantized file the generator reads."""

from __future__ import annotations

import argparse

from jaynes_hw.analyze.command import add_layer_selection, warn_skipped
from jaynes_hw.quantize.schemes import ALL_SCHEMES, HARDWARE_SCHEMES
from jaynes_hw.support.arguments import comma_list

DESCRIPTION = (
    "Quantize every layer of WEIGHTS into per-connection codes (sign + magnitude bin) and a "
    "per-layer codebook of register levels; print SQNR against the baselines; write the codes "
    "and codebooks (the generator's input) with --out."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", help="any weight file `jaynes-hw analyze` reads")
    parser.add_argument("--bits", type=int, default=4, help="code bits, sign included (2..8)")
    parser.add_argument("--scheme", choices=HARDWARE_SCHEMES, default="lognormal")
    parser.add_argument(
        "--compare",
        type=comma_list(ALL_SCHEMES, "scheme"),
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
        help="a scale per output channel on top of the codebook",
    )
    parser.add_argument(
        "--scale-bits",
        type=int,
        default=8,
        metavar="N",
        help="with --per-channel: round the channel scales to N-bit registers, as the "
        "generated cores hold them (default 8; 0: float scales)",
    )
    add_layer_selection(parser)
    parser.add_argument("--out", metavar="FILE", help="write codes + codebooks (.npz)")
    parser.add_argument("--json", metavar="FILE", help="write the comparison as JSON")


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.contract.codebook import check_bits
    from jaynes_hw.quantize.archive import save_quantized
    from jaynes_hw.quantize.weight_file import default_comparison, format_table, quantize_file
    from jaynes_hw.support.files import write_json

    bits = check_bits(args.bits)
    compare = list(args.compare) if args.compare is not None else default_comparison(bits)
    result = quantize_file(
        args.weights,
        scheme=args.scheme,
        bits=bits,
        compare=compare,
        pruned=args.pruned,
        per_channel=args.per_channel,
        scale_bits=args.scale_bits if args.per_channel else 0,
        min_size=args.min_size,
        layers=args.layers,
    )
    print(format_table(result))
    warn_skipped(result.skipped)
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
