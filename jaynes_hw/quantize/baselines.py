"""Float-only baselines for comparison, with no hardware form: QLoRA's NF4 per tensor and
per block of 64 (``nf4-b64``: 4.5 bits per weight with an fp32 absmax per block)."""

from __future__ import annotations

import numpy as np

from jaynes_hw.support.errors import UserError

# QLoRA's NF4 data type (Dettmers et al. 2023, appendix E): 16 levels in [-1, 1].
NF4_LEVELS = np.array(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ]
)

NF4_BLOCK = 64


def baseline_reconstruction(matrix: np.ndarray, scheme: str, bits: int) -> np.ndarray:
    """Dequantized weights of a float-only baseline (``nf4``, ``nf4-b64``) of an
    (n_out, n_in) float64 matrix (``layer.as_matrix``)."""
    if bits != 4:
        raise UserError(f"{scheme} is a 4-bit format (asked for {bits} bits)")
    if scheme == "nf4":
        scale = np.abs(matrix).max()
        return _nearest(matrix / scale, NF4_LEVELS) * scale
    if scheme == "nf4-b64":
        flat = matrix.reshape(-1)
        padded = np.concatenate([flat, np.zeros((-flat.size) % NF4_BLOCK)])
        blocks = padded.reshape(-1, NF4_BLOCK)
        scales = np.abs(blocks).max(axis=1, keepdims=True)
        scales[scales == 0] = 1.0
        rebuilt = _nearest(blocks / scales, NF4_LEVELS) * scales
        return rebuilt.reshape(-1)[: flat.size].reshape(matrix.shape)
    raise UserError(f"unknown baseline {scheme!r}")


def bits_per_weight(scheme: str, bits: int) -> float:
    """Storage per weight, scale overhead included where it is per block."""
    return bits + 32 / NF4_BLOCK if scheme == "nf4-b64" else float(bits)


def _nearest(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    thresholds = 0.5 * (levels[1:] + levels[:-1])
    return levels[np.searchsorted(thresholds, values, side="left")]
