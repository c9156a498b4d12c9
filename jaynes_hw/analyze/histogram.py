"""An exact, fine, log-spaced histogram of |w| built in one streaming pass.

For a positive float32, the bit pattern is monotone in the value, and its top bits are the
exponent followed by the mantissa. Dropping the sign and the low 12 mantissa bits therefore
maps |w| onto 2^19 bins that are log-spaced: each bin spans a relative width of at most
2^-11 (0.05 %). Counting those keys is the only pass over the weights (about 4 ns per
weight on one core, chunked so the temporaries stay in cache); every population statistic
the analysis needs (log moments, second moment, likelihoods, CDFs, the linear 100-bin
histogram of the paper) is then computed from ~10^4 nonempty bins instead of 10^7 weights.
The error this binning adds is below 10^-5 relative in the moments, far under the sampling
noise of any layer worth analysing.

Special keys: key 0 holds exact zeros (and subnormals below 2^-137, which are zeros for any
purpose here); keys from ``NONFINITE_KEY`` on hold +-inf and NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

KEY_BITS = 19
KEY_SHIFT = 32 - 1 - KEY_BITS  # drop the sign bit (masked) and 12 low mantissa bits
KEY_COUNT = 1 << KEY_BITS
NONFINITE_KEY = 0x7F800000 >> KEY_SHIFT  # exponent all ones: inf and NaN
CHUNK = 1 << 20  # elements per chunk: 4 MB of uint32 temporaries


@cache
def key_edges() -> np.ndarray:
    """Lower value edge of each finite key bin, plus the upper edge of the last (float64)."""
    bits = np.arange(NONFINITE_KEY + 1, dtype=np.uint32) << np.uint32(KEY_SHIFT)
    edges = bits.view(np.float32).astype(np.float64)
    edges.setflags(write=False)
    return edges


@dataclass(frozen=True)
class MagnitudeHistogram:
    """Counts of |w| in the 2^19 key bins, plus the exact largest finite magnitude.

    Attributes
    ----------
    counts : ndarray of int64, shape (2^19,)
        Elements per key bin (see the module docstring for the special keys).
    max_abs : float
        Largest finite |w|, exact (0.0 if there is none).
    """

    counts: np.ndarray
    max_abs: float

    @classmethod
    def of(cls, weights: np.ndarray) -> MagnitudeHistogram:
        """Histogram any float array (float16/32/64, memory-mapped or not), chunk by chunk."""
        flat = np.asarray(weights).reshape(-1)
        counts = np.zeros(KEY_COUNT, dtype=np.int64)
        max_bits = 0
        has_nonfinite = False
        buffer = np.empty(min(CHUNK, max(flat.size, 1)), dtype=np.uint32)
        for start in range(0, flat.size, CHUNK):
            chunk = flat[start : start + CHUNK]
            if chunk.dtype != np.float32:
                chunk = chunk.astype(np.float32)
            magnitude_bits = buffer[: chunk.size]
            np.bitwise_and(chunk.view(np.uint32), np.uint32(0x7FFFFFFF), out=magnitude_bits)
            chunk_max = int(magnitude_bits.max())
            if chunk_max >= 0x7F800000:
                has_nonfinite = True
            else:
                max_bits = max(max_bits, chunk_max)
            np.right_shift(magnitude_bits, np.uint32(KEY_SHIFT), out=magnitude_bits)
            counts += np.bincount(magnitude_bits, minlength=KEY_COUNT)
        if has_nonfinite:
            max_abs = _largest_finite_magnitude(flat)
        else:
            max_abs = float(np.array(max_bits, dtype=np.uint32).view(np.float32))
        if flat.dtype == np.float64 and max_abs > 0:
            max_abs = _largest_finite_magnitude(flat)  # exact in the source precision
        return cls(counts=counts, max_abs=max_abs)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def zeros(self) -> int:
        return int(self.counts[0])

    @property
    def nonfinite(self) -> int:
        return int(self.counts[NONFINITE_KEY:].sum())

    def finite_bins(self, floor_value: float = 0.0) -> FiniteBins:
        """The nonempty nonzero finite bins whose centre is at least ``floor_value``.

        Ascending, with the top bin's upper edge clamped to ``max_abs`` (nothing lies above).
        """
        finite_counts = self.counts[1:NONFINITE_KEY]
        keys = np.flatnonzero(finite_counts) + 1
        edges = key_edges()
        lower = edges[keys]
        upper = edges[keys + 1].copy()
        if keys.size:
            upper[-1] = min(upper[-1], self.max_abs)
        keep = (lower + upper) / 2 >= floor_value
        return FiniteBins(keys[keep], self.counts[keys][keep], lower[keep], upper[keep])


@dataclass(frozen=True)
class FiniteBins:
    """Nonempty bins of a ``MagnitudeHistogram``: key, count and value edges of each."""

    keys: np.ndarray
    counts: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def coarsened(self, drop_bits: int) -> FiniteBins:
        """Merge bins whose keys agree but for the low ``drop_bits`` bits (2^drop_bits wider)."""
        groups = self.keys >> drop_bits
        starts = np.flatnonzero(np.diff(groups, prepend=-1))
        ends = np.append(starts[1:], groups.size) - 1
        return FiniteBins(
            groups[starts],
            np.add.reduceat(self.counts, starts),
            self.lower[starts],
            self.upper[ends],
        )


def _largest_finite_magnitude(flat: np.ndarray) -> float:
    largest = 0.0
    for start in range(0, flat.size, CHUNK):
        chunk = np.abs(flat[start : start + CHUNK])
        finite = chunk[np.isfinite(chunk)]
        if finite.size:
            largest = max(largest, float(finite.max()))
    return largest
