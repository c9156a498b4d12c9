"""Generator speed: a 256 x 256 layer (4-bit lognormal codes, 16 lanes, and the int8 core)
from a quantized file to Verilog + manifest + memory files, one JSON line per case.

Each case runs in a fresh interpreter (``python -m jaynes_hw.generate``), so the figure is
what a user waits for, imports included; median of 5 runs after one warm-up run.

    python bench/bench_generate.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jaynes_hw.quantize import quantize_layer
from jaynes_hw.quantize.archive import save_quantized

RUNS = 5


def main() -> None:
    rng = np.random.default_rng(0)
    weights = np.exp(rng.normal(-3.0, 1.0, (256, 256))) * rng.choice([-1.0, 1.0], (256, 256))
    with tempfile.TemporaryDirectory() as directory:
        cases = {
            "lognormal_4bit": quantize_layer("fc", weights, "lognormal", 4),
            "int8": quantize_layer("fc", weights, "int", 8),
        }
        for case, layer in cases.items():
            path = Path(directory) / f"{case}.q.npz"
            save_quantized(path, [layer], source="synthetic")
            core = "int8" if case == "int8" else "lognormal"
            toml = Path(directory) / f"{case}.toml"
            toml.write_text(f'name = "{case}"\n[[layer]]\nweight = "fc"\nlanes = 16\n')
            command = [sys.executable, "-m", "jaynes_hw.generate", "--config", str(toml),
                       "--weights", str(path), "--core", core, "--out", directory]  # fmt: skip
            seconds = []
            for run in range(RUNS + 1):
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                if run:
                    seconds.append(time.perf_counter() - start)
            verilog = Path(directory) / f"{case if core == 'lognormal' else case + '_int8'}.v"
            print(
                json.dumps(
                    {
                        "bench": "generate_256x256",
                        "case": case,
                        "lanes": 16,
                        "median_s": round(statistics.median(seconds), 3),
                        "runs": RUNS,
                        "verilog_bytes": verilog.stat().st_size if verilog.exists() else None,
                    }
                )
            )


if __name__ == "__main__":
    main()
