"""Quantizer figures and reference throughput, one JSON line each.

1. SQNR (dB) at 4 bits of every scheme on synthetic sign x LN(-3, sigma) layers of 1M weights,
   sigma in {0.66, 1.0, 1.5} (per-tensor scaling), plus pruned and per-channel variants.
2. The same on "real-looking" layers: heavy-tailed (Student-t, df 4) weights whose output rows
   differ in scale (lognormal row gains, sigma 0.5), as trained layers do; with the gap to
   block-64 NF4 (4.5 bits per weight).
3. Reference throughput: a 256 x 256 layer over a batch of 1024 int8 vectors, median of runs,
   in MAC/s on one core (BLAS threads 1).

    OPENBLAS_NUM_THREADS=1 python bench/bench_quantize.py
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from jaynes_hw.contract.codebook import signed_levels
from jaynes_hw.contract.reference import LayerArithmetic, reference_layer
from jaynes_hw.quantize import quantize_layer, reconstruction, sqnr_db

SCHEMES = ("lognormal", "nf4", "nf4-b64", "int", "pow2", "lns")


def sqnr_row(weights: np.ndarray) -> dict[str, float]:
    row = {scheme: sqnr_db(weights, reconstruction(weights, scheme, 4)) for scheme in SCHEMES}
    row["lognormal_pruned"] = sqnr_db(weights, reconstruction(weights, "lognormal", 4, pruned=True))
    row["lognormal_per_channel"] = sqnr_db(
        weights, reconstruction(weights, "lognormal", 4, per_channel=True)
    )
    return {key: round(value, 2) for key, value in row.items()}


def main() -> None:
    rng = np.random.default_rng(0)
    for sigma in (0.66, 1.0, 1.5):
        weights = np.exp(rng.normal(-3.0, sigma, (1000, 1000))) * rng.choice([-1, 1], (1000, 1000))
        row = sqnr_row(weights)
        print(
            json.dumps(
                {
                    "benchmark": "sqnr_4bit_synthetic_lognormal",
                    "sigma": sigma,
                    "sqnr_db": row,
                    "lognormal_minus_nf4": round(row["lognormal"] - row["nf4"], 2),
                    "lognormal_minus_int": round(row["lognormal"] - row["int"], 2),
                }
            )
        )
    for seed in (1, 2):
        layer_rng = np.random.default_rng(seed)
        gains = np.exp(layer_rng.normal(0.0, 0.5, (1024, 1)))
        weights = layer_rng.standard_t(4.0, (1024, 1024)) * 0.02 * gains
        row = sqnr_row(weights)
        best_per_layer = max(row["lognormal"], row["lognormal_per_channel"])
        print(
            json.dumps(
                {
                    "benchmark": "sqnr_4bit_real_looking",
                    "seed": seed,
                    "model": "student_t(df=4) x lognormal row gains (sigma 0.5)",
                    "sqnr_db": row,
                    "gap_to_nf4_b64_db": round(row["nf4-b64"] - best_per_layer, 2),
                }
            )
        )

    weights = np.exp(rng.normal(-3.0, 1.0, (256, 256))) * rng.choice([-1, 1], (256, 256))
    layer = quantize_layer("w", weights, "lognormal", 4)
    integer_weights = signed_levels(layer.codes, layer.codebook)
    spec = LayerArithmetic(
        256,
        256,
        act_bits=8,
        out_bits=8,
        shift=12,
        relu=True,
        max_level=layer.codebook.format.max_level,
    )
    x = rng.integers(-128, 128, (1024, 256))
    seconds = []
    for _ in range(7):
        started = time.perf_counter()
        reference_layer(spec, integer_weights, x)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(
        json.dumps(
            {
                "benchmark": "reference_throughput",
                "n_in": 256,
                "n_out": 256,
                "batch": 1024,
                "accumulator_bits": spec.accumulator_width,
                "median_seconds": median,
                "mac_per_second": 256 * 256 * 1024 / median,
            }
        )
    )


if __name__ == "__main__":
    main()
