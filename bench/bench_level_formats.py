"""Level register formats of the lognormal scheme: what each costs in accuracy and in width.

For every format (m6e3, the old default; m6e2, the default; m8e0; m5e2; and a few between)
one JSON line with:

- the 4-bit SQNR of the lognormal scheme on the bench layers (sign x LN(-3, sigma) of 1M
  weights for sigma 0.66 / 1.0 / 1.5, and two "real-looking" Student-t layers with lognormal
  row gains), and its worst loss against m6e3;
- the digits network's test accuracy through the bit-exact reference (needs scikit-learn);
- the widths the format gives a 64-input layer of 8-bit activations: level, product and
  accumulator bits;
- with ``--synth``: the iCE40 logic cells of a 64 x 64 lognormal core, 16 lanes, both
  datapaths, whole board design (YoWASP; about a minute per build).

    python bench/bench_level_formats.py [--synth]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from jaynes_hw.contract.codebook import LevelFormat
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.quantize import quantize_layer, sqnr_db

FORMATS = ("m6e3", "m6e2", "m8e0", "m7e1", "m5e2", "m5e3", "m4e3")
REFERENCE = "m6e3"


def bench_layers() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    layers = {}
    for sigma in (0.66, 1.0, 1.5):
        signs = rng.choice([-1, 1], (1000, 1000))
        layers[f"lognormal_sigma{sigma}"] = np.exp(rng.normal(-3.0, sigma, (1000, 1000))) * signs
    for seed in (1, 2):
        layer_rng = np.random.default_rng(seed)
        gains = np.exp(layer_rng.normal(0.0, 0.5, (1024, 1)))
        layers[f"real_looking_seed{seed}"] = layer_rng.standard_t(4.0, (1024, 1024)) * 0.02 * gains
    return layers


def digits_accuracy(levels: str) -> float | None:
    try:
        from jaynes_hw.demo.command import reference_accuracy
        from jaynes_hw.demo.digits import integer_inputs, load_digits_split
        from jaynes_hw.generate import default_request
        from jaynes_hw.support.errors import UserError
    except ImportError:
        return None
    try:
        split = load_digits_split()
    except UserError:
        return None
    request = replace(default_request(), levels=LevelFormat.parse(levels))
    return reference_accuracy(request, "lognormal", integer_inputs(split.x_test), split.y_test)


def core_lcs(levels: str, datapath: str) -> int:
    from jaynes_hw.generate import LayerRequest, NetworkRequest, build_layers, render
    from jaynes_hw.support.files import write_text_files
    from jaynes_hw.synth.flow import synthesize

    rng = np.random.default_rng(0)
    weights = np.exp(rng.normal(-3.0, 1.0, (64, 64))) * rng.choice([-1, 1], (64, 64))
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        np.savez(root / "layer.npz", weight=weights)
        request = NetworkRequest(
            "levels",
            (LayerRequest("weight", lanes=16, datapath=datapath),),
            source=root / "layer.npz",
            levels=LevelFormat.parse(levels),
        )
        files = render("levels", build_layers(request, "lognormal"), {"bench": "levels"})
        write_text_files(root / "rtl", files)
        return synthesize("icebreaker", root / "rtl" / "levels.json", root / "build")["lcs"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synth", action="store_true", help="also build a 64x64 core per format")
    args = parser.parse_args()
    layers = bench_layers()

    def quantized_sqnr(weights, levels):
        fmt = LevelFormat.parse(levels)
        quantized = quantize_layer("w", weights, "lognormal", 4, format=fmt)
        return sqnr_db(weights, quantized.dequantize())

    sqnr = {
        name: {levels: quantized_sqnr(w, levels) for levels in FORMATS}
        for name, w in layers.items()
    }
    for levels in FORMATS:
        fmt = LevelFormat.parse(levels)
        config = LayerConfig("lognormal", 64, 64, mantissa_bits=fmt.mantissa_bits,
                             exponent_bits=fmt.exponent_bits)  # fmt: skip
        row = {
            "bench": "level_formats",
            "levels": levels,
            "sqnr_db": {name: round(values[levels], 3) for name, values in sqnr.items()},
            "worst_loss_vs_m6e3_db": round(
                max(values[REFERENCE] - values[levels] for values in sqnr.values()), 3
            ),
            "digits_accuracy": digits_accuracy(levels),
            "max_level": fmt.max_level,
            "level_bits": fmt.level_bits,
            "product_bits": config.product_bits,
            "accumulator_bits_64_inputs": config.accumulator_bits,
        }
        if args.synth:
            row["ice40_lcs_64x64_16_lanes"] = {
                datapath: core_lcs(levels, datapath) for datapath in ("per_lane", "shared")
            }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
