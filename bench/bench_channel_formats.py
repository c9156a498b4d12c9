"""Hardware-cheap 4-bit formats against block-64 NF4: 4-bit SQNR and bits per weight, one
JSON line per layer and a summary line per population (issue 16's stretch).

Formats, all codes + one K-level lognormal codebook per layer unless said:

- ``lognormal``: the layer's codebook alone (4.0 bits/weight);
- ``row_scales``: plus an 8-bit scale per output row (4 + 8 / n_in);
- ``block_shift``: plus a 2-bit shift per block of 64 consecutive weights of a row, the
  block's levels L[k] >> s (s = 0..3; the codebook refitted to the shifted population):
  4 + 2/64 = 4.03 bits/weight, a shifter in the hardware;
- ``outliers``: the largest 0.3 % of magnitudes kept apart as 16-bit values with a 10-bit
  index, the codebook fitted to the rest: about 4 + 0.003 * 26 = 4.08 bits/weight;
- ``nf4_b64``: QLoRA's NF4 per block of 64 with an fp32 absmax (4.5 bits/weight), the float
  peer with no hardware form here.

Populations: "real-looking" synthetic layers (Student-t df 4 weights, lognormal row gains
sigma 0.5, 1024 x 1024, seeds 1 and 2; no trained checkpoint is reachable offline) and the
layers of the two trained digits networks shipped in the package (small, but trained).

    python bench/bench_channel_formats.py
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from jaynes_hw.quantize import quantize_layer, reconstruction, sqnr_db

BLOCK = 64
SHIFTS = 4  # s = 0..3, 2 bits per block
OUTLIER_SHARE = 0.003
OUTLIER_BITS = 16 + 10  # value and index


def block_shift_reconstruction(weights: np.ndarray) -> np.ndarray:
    """Codes + one codebook + a 2-bit shift per block of ``BLOCK`` weights of a row."""
    rows, columns = weights.shape
    padded = np.pad(weights, ((0, 0), (0, (-columns) % BLOCK)))
    blocks = padded.reshape(rows, -1, BLOCK)
    shifts = np.zeros(blocks.shape[:2], dtype=np.int64)
    for _ in range(2):  # fit the codebook to the shifted population, then choose the shifts
        normalised = blocks * 2.0 ** shifts[:, :, None]
        layer = quantize_layer("block", normalised.reshape(rows, -1), "lognormal", 4)
        levels = np.sort(layer.codebook.real_levels)
        errors = []
        for shift in range(SHIFTS):
            scaled = np.abs(blocks) * 2.0**shift
            nearest = levels[_nearest_index(scaled, levels)] / 2.0**shift
            errors.append(((np.abs(blocks) - nearest) ** 2).sum(axis=2))
        shifts = np.argmin(np.stack(errors), axis=0)
    scaled = np.abs(blocks) * 2.0 ** shifts[:, :, None]
    rebuilt = np.sign(blocks) * levels[_nearest_index(scaled, levels)] / 2.0 ** shifts[:, :, None]
    return rebuilt.reshape(rows, -1)[:, :columns]


def _nearest_index(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted ``levels`` for every value."""
    upper = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
    lower = upper - 1
    return np.where(values - levels[lower] <= levels[upper] - values, lower, upper)


def outlier_reconstruction(weights: np.ndarray) -> np.ndarray:
    """The largest ``OUTLIER_SHARE`` of magnitudes kept exactly (16-bit values: exact here
    within fp16 rounding), the rest quantized with one codebook fitted to them."""
    magnitudes = np.abs(weights)
    cut = np.quantile(magnitudes, 1 - OUTLIER_SHARE)
    kept = magnitudes > cut
    rest = np.where(kept, 0.0, weights)
    rebuilt = quantize_layer("rest", rest, "lognormal", 4).dequantize()
    return np.where(kept, weights.astype(np.float16).astype(np.float64), rebuilt)


def formats(weights: np.ndarray) -> dict[str, tuple[float, float]]:
    """{format: (SQNR in dB, bits per weight)} of a 2-D layer."""
    n_in = weights.shape[1]
    outliers = max(1, round(OUTLIER_SHARE * weights.size)) / weights.size
    rebuilt = {
        "lognormal": (reconstruction(weights, "lognormal", 4), 4.0),
        "row_scales": (reconstruction(weights, "lognormal", 4, per_channel=True), 4 + 8 / n_in),
        "block_shift": (block_shift_reconstruction(weights), 4 + 2 / BLOCK),
        "outliers": (outlier_reconstruction(weights), 4 + outliers * OUTLIER_BITS),
        "nf4_b64": (reconstruction(weights, "nf4-b64", 4), 4 + 32 / BLOCK),
    }
    return {
        name: (round(sqnr_db(weights, values), 2), round(bits, 3))
        for name, (values, bits) in rebuilt.items()
    }


def populations():
    """(population, layer name, 2-D weights)."""
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        gains = np.exp(rng.normal(0.0, 0.5, (1024, 1)))
        yield "real_looking_synthetic", f"seed{seed}", rng.standard_t(4, (1024, 1024)) * gains
    data = resources.files("jaynes_hw") / "data"
    with resources.as_file(data / "digits_mlp.npz") as path:
        mlp = dict(np.load(path))
    for name in ("fc1.weight", "fc2.weight"):
        yield "digits_mlp_trained", name, mlp[name].astype(np.float64)
    from jaynes_hw.model import import_onnx

    with resources.as_file(data / "digits_cnn.onnx") as path:
        model = import_onnx(path)
    for index, layer in enumerate(model.layers):
        yield "digits_cnn_trained", f"layer{index}", layer.dense_weight().astype(np.float64)


def main() -> None:
    summary: dict[str, dict[str, list]] = {}
    for population, name, weights in populations():
        row = formats(weights)
        print(json.dumps({"benchmark": "format_4bit", "population": population, "layer": name,
                          "shape": list(weights.shape), "sqnr_db_and_bits": row}))  # fmt: skip
        for fmt, (sqnr, bits) in row.items():
            summary.setdefault(population, {}).setdefault(fmt, []).append((sqnr, bits))
    for population, rows in summary.items():
        means = {fmt: [round(float(np.mean([v[0] for v in values])), 2),
                       round(float(np.mean([v[1] for v in values])), 3)]
                 for fmt, values in rows.items()}  # fmt: skip
        print(json.dumps({"benchmark": "format_4bit_mean", "population": population,
                          "mean_sqnr_db_and_bits": means}))  # fmt: skip


if __name__ == "__main__":
    main()
