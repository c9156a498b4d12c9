"""The bit-exact integer layer: the one arithmetic contract every implementation meets.

For a layer with n_in inputs and n_out outputs::

    acc[o] = c[o] * sum_i s[o,i] * L[k[o,i]] * x[i] + b[o]         (exact, see below)
    y[o]   = act(sat(rshift_round(acc[o], S)))

- ``x[i]``: signed activations of ``act_bits`` (two's complement, [-2^(A-1), 2^(A-1)-1]).
- ``s[o,i] * L[k[o,i]]``: the connection's code (sign, bin) looked up in the codebook levels,
  non-negative integers below 2^``level_bits`` (``codebook.LevelFormat.max_level``).
- ``c[o]``: unsigned per-output-channel scale of ``scale_bits`` (0 = no scales, c = 1): what
  a per-channel quantized layer (e.g. a convolution with its BatchNorm folded in) keeps of
  each output's own weight scale, the codebook being shared by every output.
- ``b[o]``: signed bias of ``bias_bits`` (0 = no bias), added before the shift.
- **Accumulation is exact**: the accumulator has ``accumulator_width`` bits, enough for the
  worst case of every input and every register value (not just the current ones), so no
  input and no later codebook write can overflow it.
- ``rshift_round(a, S)`` = floor((a + 2^(S-1)) / 2^S) for S > 0 (round half up, i.e. toward
  +infinity: an adder and an arithmetic shift), and ``a`` for S = 0.
- ``sat``: clamp to the signed ``out_bits`` range [-2^(O-1), 2^(O-1)-1].
- ``act``: identity, or ReLU (max(0, .)) applied after saturation.

The float model of the same layer (``float_layer``) computes y = act(sat(acc / 2^S)) in real
numbers from real-valued weights; ``float_error_bound`` states how far the integer result can
be from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaynes_hw.support.errors import UserError

FLOAT64_EXACT_BITS = 53  # integers below 2^53 in magnitude are exact in float64


def accumulator_width(
    n_in: int, act_bits: int, max_level: int, bias_bits: int = 0, scale_bits: int = 0
) -> int:
    """Bits of a signed accumulator that holds any sum of the layer without overflow.

    The bound is n_in * max_level * 2^(act_bits-1) * (2^scale_bits - 1) + 2^(bias_bits-1):
    the most negative activation times the largest level on every input, times the largest
    channel scale (1 without scales), plus the most negative bias.
    """
    worst = n_in * max_level * (1 << (act_bits - 1)) * max_scale(scale_bits)
    if bias_bits:
        worst += 1 << (bias_bits - 1)
    # a signed W-bit register holds [-2^(W-1), 2^(W-1) - 1]
    return worst.bit_length() + 1


def max_scale(scale_bits: int) -> int:
    """Largest channel scale a ``scale_bits`` register holds (1: a layer without scales)."""
    return (1 << scale_bits) - 1 if scale_bits else 1


@dataclass(frozen=True)
class LayerArithmetic:
    """The integer parameters of one layer (everything but the weights and codebook).

    Attributes
    ----------
    n_in, n_out : int
    act_bits : int
        Input activation width (signed).
    out_bits : int
        Output width (signed); the result saturates to it.
    shift : int
        S, the rounding right shift applied to the accumulator (0..62).
    relu : bool
    bias_bits : int
        Bias width (signed), 0 for no bias.
    scale_bits : int
        Per-output channel scale width (unsigned), 0 for none (every scale 1).
    max_level : int
        Largest codebook level the registers can hold.
    """

    n_in: int
    n_out: int
    act_bits: int = 8
    out_bits: int = 8
    shift: int = 0
    relu: bool = False
    bias_bits: int = 0
    max_level: int = 127
    scale_bits: int = 0

    def __post_init__(self) -> None:
        for name in ("n_in", "n_out", "act_bits", "out_bits", "max_level"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise UserError(f"{name} must be a positive integer, not {value!r}")
        if not 0 <= self.shift <= 62:
            raise UserError(f"shift must be 0..62, not {self.shift}")
        if not 0 <= self.bias_bits <= 32:
            raise UserError(f"bias_bits must be 0..32, not {self.bias_bits}")
        if not 0 <= self.scale_bits <= 16:
            raise UserError(f"scale_bits must be 0..16, not {self.scale_bits}")
        if self.act_bits > 32 or self.out_bits > 32:
            raise UserError("act_bits and out_bits must be at most 32")
        if self.accumulator_width > 63:
            raise UserError(f"the accumulator would need {self.accumulator_width} bits (> 63)")

    @property
    def accumulator_width(self) -> int:
        return accumulator_width(
            self.n_in, self.act_bits, self.max_level, self.bias_bits, self.scale_bits
        )

    @property
    def sum_width(self) -> int:
        """Bits of the sum of the terms alone (no channel scale, no bias)."""
        return accumulator_width(self.n_in, self.act_bits, self.max_level)


def rshift_round(values: np.ndarray, shift: int) -> np.ndarray:
    """floor((v + 2^(S-1)) / 2^S): round half toward +infinity (int64 in, int64 out)."""
    if shift == 0:
        return values
    return (values + (1 << (shift - 1))) >> shift


def saturate(values: np.ndarray, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits`` range."""
    return np.clip(values, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _check_operands(spec: LayerArithmetic, weights: np.ndarray, x: np.ndarray, bias, scales):
    weights = np.asarray(weights)
    if weights.shape != (spec.n_out, spec.n_in):
        raise UserError(f"weights have shape {weights.shape}, expected ({spec.n_out}, {spec.n_in})")
    if np.abs(weights).max(initial=0) > spec.max_level:
        raise UserError(f"a weight exceeds the largest level {spec.max_level}")
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != spec.n_in:
        raise UserError(f"activations must be (batch, {spec.n_in}), not {x.shape}")
    low, high = -(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1
    if x.size and (x.min() < low or x.max() > high):
        raise UserError(f"activations must be {spec.act_bits}-bit signed integers")
    if bias is None:
        bias = np.zeros(spec.n_out, dtype=np.int64)
    bias = np.asarray(bias, dtype=np.int64)
    if spec.bias_bits == 0 and np.any(bias):
        raise UserError("this layer has no bias (bias_bits = 0)")
    if spec.bias_bits and np.any(saturate(bias, spec.bias_bits) != bias):
        raise UserError(f"biases must be {spec.bias_bits}-bit signed integers")
    if scales is None:
        scales = np.ones(spec.n_out, dtype=np.int64)
    scales = np.asarray(scales, dtype=np.int64)
    if scales.shape != (spec.n_out,):
        raise UserError(f"channel scales have shape {scales.shape}, expected ({spec.n_out},)")
    if spec.scale_bits == 0 and np.any(scales != 1):
        raise UserError("this layer has no channel scales (scale_bits = 0)")
    if scales.min(initial=0) < 0 or scales.max(initial=0) > max_scale(spec.scale_bits):
        raise UserError(f"channel scales must be {spec.scale_bits}-bit unsigned integers")
    return weights.astype(np.int64), x.astype(np.int64), bias, scales


def reference_layer(
    spec: LayerArithmetic,
    weights: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None = None,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """The layer on a batch, bit-exact (vectorised).

    Parameters
    ----------
    weights : int array (n_out, n_in)
        Signed integer weights s * L[k] (``codebook.signed_levels``).
    x : int array (batch, n_in)
    bias : int array (n_out,), optional
    scales : int array (n_out,), optional
        Channel scales c[o] (needs ``scale_bits``; default 1).

    Returns
    -------
    int64 array (batch, n_out)

    The products are summed in float64 BLAS when the sums' bound is below 2^53, where every
    partial sum is an exact integer whatever the summation order; otherwise in int64. The
    scale and the bias join in int64.
    """
    weights, x, bias, scales = _check_operands(spec, weights, x, bias, scales)
    if spec.sum_width <= FLOAT64_EXACT_BITS:
        acc = (x.astype(np.float64) @ weights.T.astype(np.float64)).astype(np.int64)
    else:
        acc = x @ weights.T
    return _finish(spec, acc * scales + bias)


def _finish(spec: LayerArithmetic, acc: np.ndarray) -> np.ndarray:
    out = saturate(rshift_round(acc, spec.shift), spec.out_bits)
    return np.maximum(out, 0) if spec.relu else out


def reference_layer_slow(
    spec: LayerArithmetic,
    weights: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None = None,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """The same contract, written as the obvious loops over Python integers (for tests)."""
    weights, x, bias, scales = _check_operands(spec, weights, x, bias, scales)
    out = np.zeros((x.shape[0], spec.n_out), dtype=np.int64)
    low, high = -(1 << (spec.out_bits - 1)), (1 << (spec.out_bits - 1)) - 1
    for b in range(x.shape[0]):
        for o in range(spec.n_out):
            acc = 0
            for i in range(spec.n_in):
                acc += int(weights[o, i]) * int(x[b, i])
            acc = acc * int(scales[o]) + int(bias[o])
            if spec.shift:
                acc = (acc + 2 ** (spec.shift - 1)) // 2**spec.shift
            acc = min(max(acc, low), high)
            out[b, o] = max(acc, 0) if spec.relu else acc
    return out


def float_layer(
    spec: LayerArithmetic,
    real_weights: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """The float model: act(sat(sum_i w[o,i] x[i] + b[o]) / 2^S) with real weights in level
    units (what the integer levels approximate), no rounding."""
    acc = np.asarray(x, dtype=np.float64) @ np.asarray(real_weights, dtype=np.float64).T
    if bias is not None:
        acc = acc + np.asarray(bias, dtype=np.float64)
    out = np.clip(
        acc / 2.0**spec.shift, -(2.0 ** (spec.out_bits - 1)), 2.0 ** (spec.out_bits - 1) - 1
    )
    return np.maximum(out, 0.0) if spec.relu else out


def float_error_bound(spec: LayerArithmetic, level_error: float, x: np.ndarray) -> np.ndarray:
    """Largest |integer - float| per output for activations ``x`` (batch, n_in).

    ``level_error`` bounds |L[k] - real level| over the codebook (e.g. 0.5 for rounding to
    integers). The bound is level_error * sum_i |x[i]| / 2^S from the weights, plus 1/2 from
    rounding (saturation and ReLU only bring the two closer). Shape (batch, 1).
    """
    weight_part = (
        level_error * np.abs(np.asarray(x, dtype=np.float64)).sum(axis=1) / 2.0**spec.shift
    )
    rounding = 0.5 if spec.shift else 0.0
    return (weight_part + rounding)[:, None]
