"""Small networks generated from a TOML description and random lognormal weights, for the
simulation tests (``tests/sim``)."""

from __future__ import annotations

import numpy as np

from jaynes_hw.cli import main

# two layers whose codes live in SPRAM (loaded through the configuration port at start-up)
SPRAM_NETWORK = """
name = "spram_mix"
source = "mix.npz"
core = "lognormal"
act_bits = 8
input_scale = 0.01

[[layer]]
weight = "l1"
bias = "b1"
lanes = 4
code_memory = "spram"
relu = true

[[layer]]
weight = "l2"
scheme = "pow2"
lanes = 3
code_memory = "spram"
relu = true

[[layer]]
weight = "l3"
lanes = 2
"""


def generated_network(tmp_path, description: str, stem: str, widths, seed: int):
    """Generate the TOML ``description`` (four layers l1..l4, biases b1 and b3, source
    ``stem``.npz) with random lognormal weights: layer k maps ``widths[k+1]`` inputs to
    ``widths[k]`` outputs (``widths[4]``: the network's inputs). Returns the rtl folder."""
    rng = np.random.default_rng(seed)
    n_outs, n_ins = widths[:4], [widths[4], *widths[:3]]
    arrays = {}
    for index, shape in enumerate(zip(n_outs, n_ins, strict=True)):
        magnitudes = np.exp(rng.normal(-2.5, 1.0, shape))
        arrays[f"l{index + 1}"] = (magnitudes * rng.choice([-1, 1], shape)).astype(np.float32)
    arrays["b1"] = rng.normal(0, 0.05, widths[0]).astype(np.float32)
    arrays["b3"] = rng.normal(0, 0.05, widths[2]).astype(np.float32)
    np.savez(tmp_path / f"{stem}.npz", **arrays)
    (tmp_path / f"{stem}.toml").write_text(description)
    out = tmp_path / "rtl"
    assert main(["generate", "--config", str(tmp_path / f"{stem}.toml"), "--out", str(out)]) == 0
    return out
