"""Codebooks in hardware form: the per-layer registers that say what each bin is worth.

A connection stores a ``bits``-wide code: the top bit is the sign (1 = negative), the low
``bits - 1`` bits the magnitude bin k in [0, K), K = 2^(bits-1). The codebook holds, per bin,
a non-negative integer **level** L[k] = m[k] * 2^e[k]: an unsigned mantissa of
``mantissa_bits`` and a shift of ``exponent_bits``. That one format covers every scheme:

- general fixed-point levels: ``exponent_bits = 0`` (a multiply per use);
- powers of two: ``mantissa_bits = 1`` (m = 1, a shift per use);
- log-number-system / floating levels: both (multiply by a short mantissa, then shift).

A connection's real value is ``sign * L[k] * weight_scale`` (``weight_scale`` is float
bookkeeping, per tensor, optionally times a per-output-channel factor); the hardware only
ever sees the integers. Pruning ("no connection") is a level of 0 in bin 0: no special
hardware, and a retune may revive it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from jaynes_hw.support.errors import UserError

MIN_BITS, MAX_BITS = 2, 8


def check_bits(bits: int) -> int:
    """Validate a code width (sign + magnitude), 2..8 bits."""
    if not isinstance(bits, int | np.integer) or not MIN_BITS <= bits <= MAX_BITS:
        raise UserError(f"bits must be an integer from {MIN_BITS} to {MAX_BITS}, not {bits!r}")
    return int(bits)


@dataclass(frozen=True)
class LevelFormat:
    """Register format of one codebook level: L = m * 2^e, m < 2^mantissa_bits,
    e < 2^exponent_bits."""

    mantissa_bits: int
    exponent_bits: int

    def __post_init__(self) -> None:
        if not 1 <= self.mantissa_bits <= 16:
            raise UserError(f"mantissa_bits must be 1..16, not {self.mantissa_bits}")
        if not 0 <= self.exponent_bits <= 5:
            raise UserError(f"exponent_bits must be 0..5, not {self.exponent_bits}")

    @property
    def name(self) -> str:
        """``m<mantissa_bits>e<exponent_bits>``, as configs and reports write it."""
        return f"m{self.mantissa_bits}e{self.exponent_bits}"

    @classmethod
    def parse(cls, text: str) -> LevelFormat:
        """The format ``name`` describes (``"m6e2"``); ``UserError`` for anything else."""
        match = re.fullmatch(r"m(\d+)e(\d+)", str(text))
        if match is None:
            raise UserError(
                f"a level format looks like m6e2 (mantissa, exponent bits), not {text!r}"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def max_mantissa(self) -> int:
        return (1 << self.mantissa_bits) - 1

    @property
    def max_exponent(self) -> int:
        return (1 << self.exponent_bits) - 1

    @property
    def max_level(self) -> int:
        """The largest level the registers can hold: bounds the accumulator width."""
        return self.max_mantissa << self.max_exponent

    @property
    def level_bits(self) -> int:
        """Width of a level as a plain unsigned integer."""
        return self.max_level.bit_length()

    def encode(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round non-negative reals (in level units) to the nearest (mantissa, exponent).

        Each value gets the smallest exponent at which its mantissa fits, so the mantissa
        keeps as many significant bits as the format has. Raises ``UserError`` for values
        above ``max_level`` (plus half a step) or negative ones.
        """
        values = np.asarray(values, dtype=np.float64)
        if np.any(~np.isfinite(values)) or np.any(values < 0):
            raise UserError("codebook levels must be finite and non-negative")
        # smallest e >= 0 with round(v / 2^e) <= max_mantissa, i.e. 2^e > v / (max_m + 1/2):
        # frexp's exponent of r is floor(log2 r) + 1, exactly that e.
        _, exponents = np.frexp(values / (self.max_mantissa + 0.5))
        exponents = np.clip(exponents.astype(np.int64), 0, self.max_exponent)
        mantissas = np.rint(values / 2.0**exponents).astype(np.int64)
        if np.any(mantissas > self.max_mantissa):
            worst = float(values.max())
            raise UserError(
                f"codebook level {worst:g} does not fit the register format "
                f"(mantissa {self.mantissa_bits} bits, exponent {self.exponent_bits} bits: "
                f"at most {self.max_level})"
            )
        return mantissas, exponents


@dataclass(frozen=True)
class Codebook:
    """One layer's codebook registers and the float bookkeeping around them.

    Attributes
    ----------
    scheme : str
        How the levels were chosen: ``lognormal``, ``pow2``, ``lns`` or ``int``.
    bits : int
        Code width, sign included; K = 2^(bits-1) magnitude bins.
    format : LevelFormat
        Register format of each level.
    mantissas, exponents : ndarray of int64, shape (K,)
        The registers: level L[k] = mantissas[k] << exponents[k].
    weight_scale : float
        Real value of one level unit: w = sign * L[k] * weight_scale.
    """

    scheme: str
    bits: int
    format: LevelFormat
    mantissas: np.ndarray
    exponents: np.ndarray
    weight_scale: float

    def __post_init__(self) -> None:
        size = 1 << (self.bits - 1)
        if self.mantissas.shape != (size,) or self.exponents.shape != (size,):
            raise UserError(
                f"a {self.bits}-bit codebook has {size} levels, not {self.mantissas.shape[0]}"
            )
        if np.any(self.mantissas < 0) or np.any(self.mantissas > self.format.max_mantissa):
            raise UserError(f"mantissas must be in 0..{self.format.max_mantissa}")
        if np.any(self.exponents < 0) or np.any(self.exponents > self.format.max_exponent):
            raise UserError(f"exponents must be in 0..{self.format.max_exponent}")
        if not (math.isfinite(self.weight_scale) and self.weight_scale > 0):
            raise UserError(f"weight_scale must be a positive number, not {self.weight_scale}")

    @property
    def size(self) -> int:
        """K, the number of magnitude bins."""
        return 1 << (self.bits - 1)

    @property
    def levels(self) -> np.ndarray:
        """Integer levels L[k] (int64), what the datapath multiplies by."""
        return self.mantissas << self.exponents

    @property
    def real_levels(self) -> np.ndarray:
        """Levels in the weights' units (float64)."""
        return self.levels * self.weight_scale

    @classmethod
    def from_real_levels(
        cls,
        scheme: str,
        bits: int,
        format: LevelFormat,
        real_levels: np.ndarray,
        weight_scale: float | None = None,
    ) -> Codebook:
        """Round real magnitude levels (ascending, weights' units) to register form.

        ``weight_scale`` defaults to the finest step at which the largest level still fits.
        """
        real_levels = np.asarray(real_levels, dtype=np.float64)
        if weight_scale is None:
            top = float(real_levels.max())
            if not top > 0:
                raise UserError("a codebook needs at least one positive level")
            weight_scale = top / format.max_level
        mantissas, exponents = format.encode(real_levels / weight_scale)
        return cls(scheme, check_bits(bits), format, mantissas, exponents, float(weight_scale))

    def to_json(self) -> dict:
        """The registers and bookkeeping as JSON (``from_json`` reads it back)."""
        return {
            "scheme": self.scheme,
            "bits": self.bits,
            "mantissa_bits": self.format.mantissa_bits,
            "exponent_bits": self.format.exponent_bits,
            "mantissas": self.mantissas.tolist(),
            "exponents": self.exponents.tolist(),
            "levels": self.levels.tolist(),
            "weight_scale": self.weight_scale,
        }

    @classmethod
    def from_json(cls, document: dict) -> Codebook:
        """A codebook from ``to_json``'s document (``levels`` is derived, not read).

        Raises ``UserError`` for values out of range, ``KeyError``/``TypeError``/``ValueError``
        for a malformed document (callers name the file)."""
        return cls(
            str(document["scheme"]),
            check_bits(int(document["bits"])),
            LevelFormat(int(document["mantissa_bits"]), int(document["exponent_bits"])),
            np.asarray(document["mantissas"], dtype=np.int64),
            np.asarray(document["exponents"], dtype=np.int64),
            float(document["weight_scale"]),
        )


def pack_codes(negative: np.ndarray, bins: np.ndarray, bits: int) -> np.ndarray:
    """Codes as stored: sign bit on top of the magnitude bin (uint8)."""
    return ((negative.astype(np.uint8) << np.uint8(bits - 1)) | bins.astype(np.uint8)).astype(
        np.uint8
    )


def unpack_codes(codes: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(negative: bool, bin: int64) of stored codes."""
    codes = np.asarray(codes)
    if codes.size and int(codes.max()) >= 1 << bits:
        raise UserError(f"codes do not fit {bits} bits (largest is {int(codes.max())})")
    negative = (codes >> (bits - 1)) & 1
    return negative.astype(bool), (codes & ((1 << (bits - 1)) - 1)).astype(np.int64)


def signed_levels(codes: np.ndarray, codebook: Codebook) -> np.ndarray:
    """The integer weight of every connection, s[o,i] * L[k[o,i]] (int64)."""
    return weights_from_levels(codes, codebook.bits, codebook.levels)


def weights_from_levels(codes: np.ndarray, bits: int, levels: np.ndarray) -> np.ndarray:
    """s[o,i] * levels[k[o,i]] for ``bits``-wide codes and K integer levels (int64)."""
    negative, bins = unpack_codes(codes, bits)
    values = np.asarray(levels, dtype=np.int64)[bins]
    return np.where(negative, -values, values)
