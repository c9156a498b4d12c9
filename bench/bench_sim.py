"""Verilog simulation speed: a 64 x 64 layer (4-bit lognormal codes, 4 lanes: 16 passes,
1024 cycles per vector) in Verilator under the cocotb testbench, back-to-back vectors.

Prints one JSON line per run and a summary line with medians: simulated cycles per second
and vectors per second (wall clock of the streaming part, build excluded), and the ratio of
measured to theoretical cycles per vector.

    python bench/bench_sim.py [--vectors 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from jaynes_hw.generate import generate, plan_generation
from jaynes_hw.quantize import quantize_layer
from jaynes_hw.quantize.archive import save_quantized
from jaynes_hw.sim.runner import simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = np.exp(rng.normal(-3.0, 1.0, (64, 64))) * rng.choice([-1.0, 1.0], (64, 64))
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        save_quantized(root / "layer.q.npz", [quantize_layer("fc", weights, "lognormal", 4)])
        (root / "layer.toml").write_text('name = "layer64"\n[[layer]]\nweight = "fc"\nlanes = 4\n')
        plan = plan_generation(root / "layer.toml", root / "layer.q.npz")
        manifest = next(p for p in generate(plan, root / "rtl") if p.suffix == ".json")
        rows = []
        for run in range(args.runs):
            (result,) = simulate(
                manifest, ("full_rate",), vectors=args.vectors, seed=run, build_root=root
            )
            figures = result.figures
            row = {
                "bench": "sim_64x64_verilator",
                "run": run,
                "passed": result.passed,
                "vectors": figures["vectors"],
                "cycles_per_vector": figures["cycles_per_vector"],
                "theoretical_cycles_per_vector": figures["theoretical_cycles_per_vector"],
                "ratio": figures["ratio"],
                "cycles_per_second": figures["total_cycles"] / figures["wall_seconds"],
                "vectors_per_second": figures["vectors"] / figures["wall_seconds"],
            }
            rows.append(row)
            print(json.dumps(row))
        summary = {
            "bench": "sim_64x64_verilator",
            "summary": "median",
            "cycles_per_second": round(statistics.median(r["cycles_per_second"] for r in rows)),
            "vectors_per_second": round(
                statistics.median(r["vectors_per_second"] for r in rows), 2
            ),
            "ratio": statistics.median(r["ratio"] for r in rows),
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
