"""Benchmark `analyze` end to end on a ~1 GB float32 safetensors file.

Writes 16 tensors of 4096 x 4096 (a mix of Gaussian and lognormal layers) to a temporary
folder, then runs the analysis in fresh subprocesses (one core: BLAS threads 1) and reports,
as one JSON line: the median of the runs' weights/s, and the peak resident memory of the
process above its baseline, against the largest tensor and the file size. The file is in the
page cache after being written: this measures compute and memory, not the disk.

    python bench/bench_analyze.py [--tensors 16] [--side 4096] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
from jaynes_hw.analyze.file_analysis import analyze_file

def status(field):  # kB, from /proc/self/status
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

with open("/proc/self/clear_refs", "w") as stream:
    stream.write("5")  # reset the peak resident set (VmHWM) to the current one
baseline = status("VmRSS")
started = time.perf_counter()
analysis = analyze_file(sys.argv[1], progress=False)
seconds = time.perf_counter() - started
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "weights": analysis.weights, "layers": len(analysis.layers),
                  "baseline_kib": baseline, "peak_kib": peak}))
"""


def write_file(path: Path, tensors: int, side: int) -> None:
    """Write the safetensors file tensor by tensor, so the writer's memory stays small."""
    header, offset = {}, 0
    for index in range(tensors):
        size = side * side * 4
        header[f"layers.{index}.weight"] = {
            "dtype": "F32",
            "shape": [side, side],
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header).encode()
    rng = np.random.default_rng(0)
    with path.open("wb") as stream:
        stream.write(len(encoded).to_bytes(8, "little") + encoded)
        for index in range(tensors):
            if index % 2:
                block = rng.standard_normal((side, side), dtype=np.float32) * 0.02
            else:
                block = np.exp(rng.normal(-4.0, 1.0, (side, side))).astype(np.float32)
                block *= rng.choice(np.array([-1, 1], np.float32), size=(side, side))
            stream.write(block.astype("<f4").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=16)
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        write_file(path, args.tensors, args.side)
        runs = []
        for _ in range(args.runs):
            output = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs.append(json.loads(output))
        file_bytes = path.stat().st_size
    largest_tensor = args.side * args.side * 4
    rates = [run["weights"] / run["seconds"] for run in runs]
    extra = [1024 * (run["peak_kib"] - run["baseline_kib"]) for run in runs]
    print(
        json.dumps(
            {
                "benchmark": "analyze_safetensors_f32",
                "file_bytes": file_bytes,
                "tensors": args.tensors,
                "weights": runs[0]["weights"],
                "runs": args.runs,
                "median_seconds": statistics.median(run["seconds"] for run in runs),
                "median_weights_per_second": statistics.median(rates),
                "max_peak_extra_bytes": max(extra),
                "peak_extra_over_largest_tensor": max(extra) / largest_tensor,
                "peak_extra_over_file": max(extra) / file_bytes,
            }
        )
    )


if __name__ == "__main__":
    main()
