"""Choosing a codebook's levels: minimum squared error over a layer's magnitudes.

``WeightedMagnitudes`` holds a layer's |w| as weighted points built from the exact magnitude
histogram (``jaynes_hw.analyze.histogram``), so Lloyd-Max iterations and scale searches cost
O(K log bins) each, whatever the layer's size. ``design_levels`` gives the K real levels of
a hardware scheme; ``lognormal_bin_means`` maps a lognormal (mu, sigma) to strengths for
fixed rank bins (the retune of the paper's proposal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from jaynes_hw.analyze.histogram import MagnitudeHistogram
from jaynes_hw.quantize.schemes import check_scheme


@dataclass(frozen=True)
class WeightedMagnitudes:
    """A layer's magnitudes as weighted points (value, count), ascending, zeros included.

    Built from the exact magnitude histogram: values are bin centres (0.05 % wide bins).
    Prefix sums make the squared error of any level set cost O(K log bins).
    """

    values: np.ndarray
    counts: np.ndarray
    max_value: float  # exact, not a bin centre

    @classmethod
    def of(cls, histogram: MagnitudeHistogram) -> WeightedMagnitudes:
        bins = histogram.finite_bins()
        values = np.concatenate([[0.0], 0.5 * (bins.lower + bins.upper)])
        counts = np.concatenate([[histogram.zeros], bins.counts]).astype(np.float64)
        return cls(values, counts, histogram.max_abs)

    @property
    def prefix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = self.counts
        zero = np.zeros(1)
        return (
            np.concatenate([zero, np.cumsum(counts)]),
            np.concatenate([zero, np.cumsum(counts * self.values)]),
            np.concatenate([zero, np.cumsum(counts * self.values**2)]),
        )

    def cells(self, levels: np.ndarray) -> np.ndarray:
        """Index boundaries of each level's nearest-value cell (levels ascending)."""
        thresholds = 0.5 * (levels[1:] + levels[:-1])
        inner = np.searchsorted(self.values, thresholds, side="left")
        return np.concatenate([[0], inner, [self.values.size]])

    def squared_error(self, levels: np.ndarray, prefix=None) -> float:
        """Sum over the population of (value - nearest level)^2."""
        s0, s1, s2 = prefix or self.prefix
        bounds = self.cells(levels)
        n = s0[bounds[1:]] - s0[bounds[:-1]]
        total = s1[bounds[1:]] - s1[bounds[:-1]]
        square = s2[bounds[1:]] - s2[bounds[:-1]]
        return float(np.sum(square - 2 * levels * total + levels**2 * n))


def lloyd_max(
    population: WeightedMagnitudes,
    levels: np.ndarray,
    fixed: np.ndarray | None = None,
    iterations: int = 300,
) -> np.ndarray:
    """Minimum-squared-error levels by Lloyd-Max iteration from ``levels`` (ascending).

    ``fixed`` marks levels that stay put (a pruned bin's 0). Empty cells keep their level.
    """
    levels = np.sort(np.asarray(levels, dtype=np.float64))
    fixed = np.zeros(levels.size, bool) if fixed is None else fixed
    s0, s1, _ = population.prefix
    for _ in range(iterations):
        bounds = population.cells(levels)
        n = s0[bounds[1:]] - s0[bounds[:-1]]
        total = s1[bounds[1:]] - s1[bounds[:-1]]
        updated = np.where((n > 0) & ~fixed, total / np.maximum(n, 1e-300), levels)
        updated = np.sort(updated)
        if np.allclose(updated, levels, rtol=1e-10, atol=0):
            return updated
        levels = updated
    return levels


def lognormal_bin_means(mu: float, sigma: float, fractions: np.ndarray) -> np.ndarray:
    """Mean of LN(mu, sigma) within consecutive probability bins of the given fractions.

    E[X | q_a < F(X) < q_b]
        = exp(mu + sigma^2/2) (Phi(z_b - sigma) - Phi(z_a - sigma)) / (q_b - q_a),
    with z = Phi^-1(q). This maps (mu, sigma) to strengths for fixed rank bins.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(fractions)])
    edges = np.clip(edges / edges[-1], 0.0, 1.0)
    z = special.ndtri(edges)
    mass = np.diff(edges)
    upper_tail = np.diff(special.ndtr(z - sigma))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = math.exp(mu + sigma**2 / 2) * upper_tail / mass
    # an empty bin gets the lognormal's value at its quantile
    return np.where(mass > 0, means, np.exp(mu + sigma * np.clip(z[:-1], -8, 8)))


def _search_scale(
    population: WeightedMagnitudes, shape: np.ndarray, low: float, high: float
) -> float:
    """Delta minimising the squared error of levels Delta * shape, for ln Delta in [low, high]."""
    prefix = population.prefix
    grid = np.linspace(low, high, 241)
    errors = [population.squared_error(math.exp(g) * shape, prefix) for g in grid]
    best = int(np.argmin(errors))
    step = grid[1] - grid[0]
    fine = np.linspace(grid[best] - step, grid[best] + step, 41)
    errors = [population.squared_error(math.exp(g) * shape, prefix) for g in fine]
    return math.exp(fine[int(np.argmin(errors))])


def design_levels(
    population: WeightedMagnitudes,
    scheme: str,
    bits: int,
    mu: float,
    sigma: float,
    pruned: bool,
    frac_bits: int = 2,
) -> np.ndarray:
    """Real magnitude levels (ascending, K of them) of a hardware scheme for a population."""
    check_scheme(scheme)
    size = 1 << (bits - 1)
    top = population.max_value
    if scheme == "int":
        return np.arange(size) * (top / (size - 1))
    fixed = np.zeros(size, bool)
    fixed[0] = pruned
    if scheme == "lognormal":
        fractions = np.full(size - pruned, 1.0 / (size - pruned))
        seeds = lognormal_bin_means(mu, sigma, fractions)
        if pruned:
            seeds = np.concatenate([[0.0], seeds])
        return lloyd_max(population, seeds, fixed)
    if scheme == "pow2":
        shape = 2.0 ** np.arange(size)
    elif scheme == "lns":
        best = None
        for numerator in range(1, 4 * (1 << frac_bits) + 1):
            step = numerator / (1 << frac_bits)
            shape = 2.0 ** (np.arange(size) * step)
            if pruned:
                shape[0] = 0.0
            low = math.log(top) - math.log(shape[-1]) - 3.0
            delta = _search_scale(population, shape, low, math.log(top) + 1.0)
            error = population.squared_error(delta * shape)
            if best is None or error < best[0]:
                best = (error, delta * shape)
        return best[1]
    if pruned:
        shape[0] = 0.0
    low = math.log(top) - math.log(shape[-1]) - 3.0
    return _search_scale(population, shape, low, math.log(top) + 1.0) * shape
