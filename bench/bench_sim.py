"""Verilog simulation speed: the cocotb testbench against the bulk Verilog harness, in one run.

Two designs: the committed default network (``rtl/digits_mlp``: 64-32-10, 520 cycles per
vector) and a 64 x 64 layer (4-bit lognormal codes, 4 lanes: 1040 cycles per vector). On
each, Verilator runs back-to-back vectors with y always ready:

- ``cocotb``: the ``full_rate`` scenario (Python drives and samples every cycle);
- ``bulk``: ``jaynes_hw.sim.bulk.playback`` (the Verilog harness; Python only writes the
  script and reads the results).

One JSON line per run: simulated cycles per second and vectors per second (wall clock of the
simulation, builds excluded: each path is built once before it is timed), and whether the
outputs matched the reference. Then one summary line per design with the medians and the
ratio bulk / cocotb.

    python bench/bench_sim.py [--vectors 40] [--bulk-vectors 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from jaynes_hw.contract.design import Design
from jaynes_hw.generate import generate, plan_generation
from jaynes_hw.quantize import quantize_layer
from jaynes_hw.quantize.archive import save_quantized
from jaynes_hw.sim.bulk import Phase, playback
from jaynes_hw.sim.runner import simulate

RTL = Path(__file__).resolve().parent.parent / "rtl"


def layer64(root: Path) -> Path:
    """A 64 x 64 layer of sign x LN(-3, 1) weights, 4 lanes, generated into ``root``."""
    rng = np.random.default_rng(0)
    weights = np.exp(rng.normal(-3.0, 1.0, (64, 64))) * rng.choice([-1.0, 1.0], (64, 64))
    save_quantized(root / "layer.q.npz", [quantize_layer("fc", weights, "lognormal", 4)])
    (root / "layer.toml").write_text('name = "layer64"\n[[layer]]\nweight = "fc"\nlanes = 4\n')
    plan = plan_generation(root / "layer.toml", root / "layer.q.npz")
    return next(path for path in generate(plan, root / "rtl") if path.suffix == ".json")


def cocotb_run(manifest: Path, vectors: int, seed: int, root: Path) -> dict:
    (result,) = simulate(manifest, ("full_rate",), vectors=vectors, seed=seed, build_root=root)
    figures = result.figures
    return {
        "passed": result.passed,
        "vectors": figures["vectors"],
        "cycles": figures["total_cycles"],
        "seconds": figures["wall_seconds"],
    }


def bulk_run(manifest: Path, vectors: int, seed: int, root: Path) -> dict:
    design = Design.from_manifest(manifest)
    x = design.random_inputs(np.random.default_rng(seed), vectors)
    started = time.perf_counter()
    (result,) = playback(manifest, [Phase([], x)], build_root=root)
    seconds = time.perf_counter() - started  # includes writing the script, reading results
    return {
        "passed": bool(np.array_equal(result.outputs, design.forward(x))),
        "vectors": vectors,
        "cycles": result.cycles,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=40, help="vectors per cocotb run")
    parser.add_argument("--bulk-vectors", type=int, default=5000, help="vectors per bulk run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        designs = {"digits_mlp": RTL / "digits_mlp.json", "layer64": layer64(root)}
        for name, manifest in designs.items():
            cocotb_run(manifest, 3, 0, root)  # build both paths before timing them
            bulk_run(manifest, 3, 0, root)
            rates = {"cocotb": [], "bulk": []}
            for run in range(args.runs):
                for path, vectors in (("cocotb", args.vectors), ("bulk", args.bulk_vectors)):
                    measure = cocotb_run if path == "cocotb" else bulk_run
                    row = measure(manifest, vectors, run + 1, root)
                    seconds = row["seconds"]
                    row = {"bench": "sim", "design": name, "path": path, "run": run, **row,
                           "cycles_per_second": round(row["cycles"] / seconds),
                           "vectors_per_second": round(row["vectors"] / seconds, 1)}  # fmt: skip
                    rates[path].append(row["cycles_per_second"])
                    print(json.dumps(row), flush=True)
            medians = {path: statistics.median(values) for path, values in rates.items()}
            print(json.dumps({
                "bench": "sim", "design": name, "summary": "median",
                "cocotb_cycles_per_second": round(medians["cocotb"]),
                "bulk_cycles_per_second": round(medians["bulk"]),
                "ratio_bulk_to_cocotb": round(medians["bulk"] / medians["cocotb"], 1),
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
