"""``python -m jaynes_hw.generate`` (also ``jaynes-hw generate``): a network of layer cores
as Verilog, with its manifest and memory images."""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from jaynes_hw.contract.layer_config import CORE_KINDS, DATAPATH_CHOICES
from jaynes_hw.quantize.schemes import HARDWARE_SCHEMES
from jaynes_hw.support.errors import run_reporting_errors

DESCRIPTION = (
    "Emit Verilog for a network of layer cores, with its manifest. With no arguments: the "
    "built-in digits MLP, 4-bit lognormal codes, into ./rtl."
)
DEFAULT_OUT = "rtl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="TOML network description")
    source.add_argument(
        "--model",
        type=Path,
        help="an ONNX model: `jaynes-hw import` it and generate it in one step",
    )
    parser.add_argument("--weights", type=Path, help="quantized file from `jaynes-hw quantize`")
    parser.add_argument("--core", choices=CORE_KINDS, help="core kind (default: the config's)")
    parser.add_argument(
        "--scheme",
        choices=HARDWARE_SCHEMES,
        help="codebook scheme of lognormal cores quantized here (default: the config's)",
    )
    parser.add_argument(
        "--datapath",
        choices=DATAPATH_CHOICES,
        help="every layer's datapath (default: the config's); unrolled and unrolled_serial "
        "bake the codes into adder trees, a whole vector every cycle or every K cycles",
    )
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output directory")
    parser.add_argument("--name", help="top module and file stem")


def run(args: argparse.Namespace) -> int:
    """Generate and say what was written."""
    from jaynes_hw.contract.manifest import Manifest
    from jaynes_hw.generate import generate, plan_generation

    with tempfile.TemporaryDirectory(prefix="jaynes-hw-import-") as folder:
        config = args.config
        if args.model is not None:
            from jaynes_hw.model import import_onnx, write_network

            config = Path(folder) / f"{args.model.stem}.toml"
            write_network(import_onnx(args.model), config)
        plan = plan_generation(
            config, args.weights, args.core, args.scheme, args.name, args.datapath
        )
        if args.model is not None:
            plan = replace(plan, provenance={"model": args.model.name})
        written = generate(plan, args.out)
    manifest = Manifest.read(next(path for path in written if path.suffix == ".json"))
    configs = [layer.config for layer in manifest.layers]
    cycles = manifest.vector_period_cycles
    if any(layer.convolution for layer in manifest.layers):
        period = f"at most {cycles} cycles a vector"  # an image's time is a bound
    else:
        period = f"one vector every {cycles} cycles"
    print(
        f"generated {manifest.top}: {len(configs)} {configs[0].kind} layers "
        f"({manifest.shape_text}), {period}"
    )
    for path in written:
        print(f"  wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaynes_hw.generate", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(args), program="python -m jaynes_hw.generate")


if __name__ == "__main__":
    sys.exit(main())
