"""Benchmark `analyze` on ~1 GB safetensors files (float32, and the same weights in BF16):
one core, two local Dask workers, and numpy anchors over the same file, in one run.

Writes 16 tensors of 4096 x 4096 (half Gaussian, half lognormal layers) to a temporary
folder, once as F32 and once as BF16. Then, for each file:

- ``single_core``: ``analyze_files`` in a fresh subprocess (BLAS threads 1), timed inside it
  after a warm-up on a small file of the same dtype (net of process start-up and of loading
  the compiled kernel),
  with the process's peak resident memory above its baseline;
- ``workers_2``: the same call on a running 2-process ``LocalCluster`` (the one
  ``--workers 2`` starts, started and warmed before the clock starts, its client kept
  open: net of start-up), its runs interleaved with the single-core ones;
- numpy anchors, in the single-core subprocess on the same memory-mapped tensors: a naive
  log + mean + std, an in-place log + sum, and a copying read of each tensor plus a sum.

The files are in the page cache after being written: this measures compute and memory
bandwidth, not the disk. Every figure is a median over ``--runs``; one JSON line per file.

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
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
from jaynes_hw.analyze.file_analysis import analyze_files
from jaynes_hw.weights import iter_tensors

def status(field):  # kB, from /proc/self/status
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

path, warm = sys.argv[1], sys.argv[2]
analyze_files([warm], progress=False, workers=1)  # kernels loaded from numba's cache
with open("/proc/self/clear_refs", "w") as stream:
    stream.write("5")  # reset the peak resident set (VmHWM) to the current one
baseline = status("VmRSS")
started = time.perf_counter()
(analysis,) = analyze_files([path], progress=False, workers=1)
seconds = time.perf_counter() - started
peak = status("VmHWM")

def timed(operation):
    started = time.perf_counter()
    for tensor in iter_tensors(path):
        operation(tensor.load())
    return time.perf_counter() - started

def naive(weights):
    logs = np.log(np.abs(weights))
    return logs.mean(), logs.std()

def in_place_log_sum(weights):
    buffer = np.abs(weights)  # the one copy this anchor makes
    np.log(buffer, out=buffer)
    return buffer.sum()

anchors = {"numpy_naive_log_mean_std": timed(naive),
           "numpy_in_place_log_sum": timed(in_place_log_sum),
           "numpy_copy_and_sum": timed(lambda weights: np.array(weights).sum())}
print(json.dumps({"seconds": seconds, "weights": analysis.weights, "layers": len(analysis.layers),
                  "baseline_kib": baseline, "peak_kib": peak, "anchors": anchors}))
"""


def write_file(path: Path, tensors: int, side: int, bfloat16: bool) -> None:
    """Write the safetensors file tensor by tensor, so the writer's memory stays small."""
    itemsize = 2 if bfloat16 else 4
    header, offset = {}, 0
    for index in range(tensors):
        size = side * side * itemsize
        header[f"layers.{index}.weight"] = {
            "dtype": "BF16" if bfloat16 else "F32",
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
            if bfloat16:
                block = (block.view(np.uint32) >> 16).astype("<u2")
            stream.write(block.astype(block.dtype.newbyteorder("<")).tobytes())


def single_core_runs(path: Path, warm: Path, runs: int) -> list[dict]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    results = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(warm)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(output))
    return results


def worker_runs(client, path: Path, runs: int) -> list[float]:
    from jaynes_hw.analyze.file_analysis import analyze_files

    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        analyze_files([path], progress=False, executor=client)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=16)
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from jaynes_hw.support.cluster import open_executor

    weights = args.tensors * args.side * args.side
    with tempfile.TemporaryDirectory() as folder:
        warm_files, files = {}, {}
        for kind in ("F32", "BF16"):
            warm_files[kind] = Path(folder) / f"warm-{kind}.safetensors"
            write_file(warm_files[kind], 4, 256, bfloat16=kind == "BF16")
            files[kind] = Path(folder) / f"model-{kind}.safetensors"
            write_file(files[kind], args.tensors, args.side, bfloat16=kind == "BF16")
        with open_executor(workers=2) as client:  # the LocalCluster `--workers 2` starts
            for kind, path in files.items():
                warm = warm_files[kind]
                worker_runs(client, warm, 2)  # every worker has loaded its kernels
                single, parallel = [], []
                for _ in range(args.runs):  # interleaved: both see the same machine state
                    single += single_core_runs(path, warm, 1)
                    parallel += worker_runs(client, path, 1)
                single_rate = weights / statistics.median(run["seconds"] for run in single)
                parallel_rate = weights / statistics.median(parallel)
                anchors = {
                    name: weights / statistics.median(run["anchors"][name] for run in single)
                    for name in single[0]["anchors"]
                }
                extra = max(1024 * (run["peak_kib"] - run["baseline_kib"]) for run in single)
                largest_tensor = args.side * args.side * (2 if kind == "BF16" else 4)
                print(
                    json.dumps(
                        {
                            "benchmark": "analyze_safetensors",
                            "dtype": kind,
                            "file_bytes": path.stat().st_size,
                            "tensors": args.tensors,
                            "weights": weights,
                            "runs": args.runs,
                            "single_core_weights_per_second": single_rate,
                            "workers_2_weights_per_second": parallel_rate,
                            "workers_2_speedup": parallel_rate / single_rate,
                            **{
                                f"{name}_weights_per_second": rate for name, rate in anchors.items()
                            },
                            "single_core_peak_extra_bytes": extra,
                            "peak_extra_over_largest_tensor": extra / largest_tensor,
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
