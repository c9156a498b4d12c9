"""Log-domain quantization of a layer: codes + a tunable codebook, baselines, ``retune``.

A layer's weights W (n_out x n_in; higher-rank tensors are viewed as
``shape[0] x prod(rest)``) become per-connection codes (sign + magnitude bin) and a
``Codebook`` of K = 2^(bits-1) levels. Hardware schemes (all sign + magnitude):

- ``lognormal``: Lloyd-Max levels (minimum squared error on this layer's magnitudes), seeded
  at the conditional means of the fitted lognormal's K equal-probability bins, then rounded
  to the register format (default 6-bit mantissa, 3-bit exponent).
- ``pow2``: levels Delta * 2^k, k = 0..K-1 (a shift in hardware); Delta placed by minimum
  error (a 1-D search from the fit). At most 6 bits (32 exponents).
- ``lns``: geometric levels Delta * 2^(k * step) with ``step`` a multiple of 2^-frac_bits;
  step and Delta by minimum error.
- ``int``: uniform levels 0, 1, .., K-1 times absmax / (K-1) (symmetric, per-tensor absmax).

Float-only baselines for comparison: ``nf4`` (the 16 published NF4 levels of QLoRA times the
per-tensor absmax) and ``nf4-b64`` (absmax per block of 64, 4.5 bits per weight with an fp32
scale per block, as QLoRA uses it before double quantization).

Codes are assigned to the nearest *hardware* level, so the reported errors are those of the
integers the hardware holds. Lloyd-Max and the Delta searches work on the exact 2^19-bin
magnitude histogram (``population.histogram``), so their cost does not grow with the layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from jaynes_hw.codebook import Codebook, LevelFormat, check_bits, pack_codes, unpack_codes
from jaynes_hw.errors import UserError
from jaynes_hw.population.fit import lognormal_mle
from jaynes_hw.population.histogram import MagnitudeHistogram

HARDWARE_SCHEMES = ("lognormal", "pow2", "lns", "int")
BASELINE_SCHEMES = ("nf4", "nf4-b64")
ALL_SCHEMES = HARDWARE_SCHEMES + BASELINE_SCHEMES

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


def default_format(scheme: str, bits: int) -> LevelFormat:
    """Register format of each scheme's levels at ``bits``."""
    if scheme in ("lognormal", "lns"):
        return LevelFormat(mantissa_bits=6, exponent_bits=3)
    if scheme == "pow2":
        if bits > 6:
            raise UserError("pow2 codebooks support at most 6 bits (32 distinct shifts)")
        return LevelFormat(mantissa_bits=1, exponent_bits=bits - 1)
    if scheme == "int":
        return LevelFormat(mantissa_bits=bits - 1, exponent_bits=0)
    raise UserError(f"unknown scheme {scheme!r}; expected one of {', '.join(HARDWARE_SCHEMES)}")


@dataclass(frozen=True)
class Population:
    """A layer's magnitudes as weighted points (value, count), ascending, zeros included.

    Built from the exact magnitude histogram: values are bin centres (0.05 % wide bins).
    Prefix sums make the squared error of any level set cost O(K log bins).
    """

    values: np.ndarray
    counts: np.ndarray
    max_value: float  # exact, not a bin centre

    @classmethod
    def of(cls, histogram: MagnitudeHistogram) -> Population:
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
    population: Population,
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


@dataclass(frozen=True)
class QuantizedLayer:
    """A quantized layer: what the hardware stores, plus the bookkeeping to read it back.

    Attributes
    ----------
    name : str
    shape : tuple of int
        The original tensor's shape; ``codes`` is its ``shape[0] x rest`` matrix view.
    codes : ndarray of uint8, shape (n_out, n_in)
        Sign bit (1 = negative) above the magnitude bin, ``codebook.bits`` wide.
    codebook : Codebook
    channel_scales : ndarray of float64, shape (n_out,), or None
        Per-output-channel factors on top of ``codebook.weight_scale``.
    mu, sigma : float
        Lognormal fit of the (channel-normalised) magnitudes the codebook was made for:
        ln|w| ~ N(mu, sigma) in the weights' units.
    pruned : bool
        Bin 0 is "no connection" (its level is held at 0).
    """

    name: str
    shape: tuple[int, ...]
    codes: np.ndarray
    codebook: Codebook
    channel_scales: np.ndarray | None
    mu: float
    sigma: float
    pruned: bool = False

    @property
    def n_out(self) -> int:
        return self.codes.shape[0]

    @property
    def n_in(self) -> int:
        return self.codes.shape[1]

    def dequantize(self) -> np.ndarray:
        """The real weights the codes and codebook stand for (float64, n_out x n_in)."""
        negative, bins = unpack_codes(self.codes, self.codebook.bits)
        values = self.codebook.real_levels[bins]
        if self.channel_scales is not None:
            values = values * self.channel_scales[:, None]
        return np.where(negative, -values, values)

    def bin_fractions(self) -> np.ndarray:
        """Share of the connections in each magnitude bin (the rank structure)."""
        _, bins = unpack_codes(self.codes, self.codebook.bits)
        return np.bincount(bins.reshape(-1), minlength=self.codebook.size) / bins.size


def as_matrix(weights: np.ndarray) -> np.ndarray:
    """View a weight tensor as n_out x n_in (float64), refusing empty or non-finite ones."""
    weights = np.asarray(weights)
    if weights.size == 0:
        raise UserError("the layer is empty")
    matrix = weights.reshape(weights.shape[0] if weights.ndim > 1 else 1, -1)
    if not np.all(np.isfinite(matrix)):
        raise UserError("the layer has non-finite weights (NaN or Inf): cannot quantize it")
    if not np.any(matrix):
        raise UserError("all weights are zero: nothing to quantize")
    return matrix.astype(np.float64)


def sqnr_db(weights: np.ndarray, reconstructed: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio, 10 log10(sum w^2 / sum (w - w_hat)^2), in dB."""
    noise = float(np.sum((weights - reconstructed) ** 2))
    signal = float(np.sum(weights**2))
    return math.inf if noise == 0 else 10.0 * math.log10(signal / noise)


def _search_scale(population: Population, shape: np.ndarray, low: float, high: float) -> float:
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
    population: Population,
    scheme: str,
    bits: int,
    mu: float,
    sigma: float,
    pruned: bool,
    frac_bits: int = 2,
) -> np.ndarray:
    """Real magnitude levels (ascending, K of them) of a hardware scheme for a population."""
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
    else:
        raise UserError(f"unknown scheme {scheme!r}; expected one of {', '.join(HARDWARE_SCHEMES)}")
    if pruned:
        shape[0] = 0.0
    low = math.log(top) - math.log(shape[-1]) - 3.0
    return _search_scale(population, shape, low, math.log(top) + 1.0) * shape


def quantize_layer(
    name: str,
    weights: np.ndarray,
    scheme: str = "lognormal",
    bits: int = 4,
    *,
    pruned: bool = False,
    per_channel: bool = False,
    format: LevelFormat | None = None,
) -> QuantizedLayer:
    """Quantize one layer to codes and a hardware codebook (see the module docstring).

    Parameters
    ----------
    per_channel : bool
        Divide each output row by its own scale first (absmax for ``int``, the geometric
        mean of |w| otherwise) and keep those scales as ``channel_scales``.

    Raises
    ------
    UserError
        bits out of range, unknown scheme, empty/zero/non-finite layer, levels the register
        format cannot hold.
    """
    bits = check_bits(bits)
    format = format or default_format(scheme, bits)
    matrix = as_matrix(weights)
    magnitudes = np.abs(matrix)
    channel_scales = None
    if per_channel:
        channel_scales = _channel_scales(magnitudes, scheme)
        magnitudes = magnitudes / channel_scales[:, None]
    histogram = MagnitudeHistogram.of(magnitudes)
    population = Population.of(histogram)
    mu, sigma = _fit(histogram)
    real_levels = design_levels(population, scheme, bits, mu, sigma, pruned)
    codebook = Codebook.from_real_levels(scheme, bits, format, real_levels)
    codes = assign_codes(matrix, magnitudes, codebook)
    return QuantizedLayer(
        name, tuple(np.shape(weights)), codes, codebook, channel_scales, mu, sigma, pruned
    )


def _fit(histogram: MagnitudeHistogram) -> tuple[float, float]:
    """Lognormal (mu, sigma) of ln|w| in the weights' units, from the magnitude histogram."""
    bins = histogram.finite_bins(1e-4 * histogram.max_abs)
    if bins.counts.size < 2:
        return math.log(histogram.max_abs), 1e-3
    mle = lognormal_mle(bins, histogram.max_abs)
    return mle.mu_raw, mle.sigma


def _channel_scales(magnitudes: np.ndarray, scheme: str) -> np.ndarray:
    if scheme == "int":
        scales = magnitudes.max(axis=1)
    else:
        with np.errstate(divide="ignore"):
            logs = np.where(magnitudes > 0, np.log(np.maximum(magnitudes, 1e-300)), np.nan)
        scales = np.exp(np.nanmean(logs, axis=1)) if np.any(magnitudes > 0) else np.ones(1)
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    return scales / np.exp(np.mean(np.log(scales)))


def assign_codes(matrix: np.ndarray, magnitudes: np.ndarray, codebook: Codebook) -> np.ndarray:
    """Nearest hardware level for every magnitude, plus the sign: the stored codes."""
    real = codebook.real_levels
    order = np.argsort(real, kind="stable")
    thresholds = 0.5 * (real[order][1:] + real[order][:-1])
    bins = order[np.searchsorted(thresholds, magnitudes, side="left")]
    return pack_codes(matrix < 0, bins, codebook.bits)


def baseline_reconstruction(weights: np.ndarray, scheme: str, bits: int) -> np.ndarray:
    """Dequantized weights of a float-only baseline (``nf4``, ``nf4-b64``), float64."""
    if bits != 4:
        raise UserError(f"{scheme} is a 4-bit format (asked for {bits} bits)")
    matrix = as_matrix(weights)
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


def reconstruction(weights: np.ndarray, scheme: str, bits: int, **options) -> np.ndarray:
    """Dequantized weights under any scheme of ``ALL_SCHEMES`` (n_out x n_in, float64)."""
    if scheme in BASELINE_SCHEMES:
        return baseline_reconstruction(weights, scheme, bits)
    return quantize_layer("", weights, scheme, bits, **options).dequantize()


def retune(
    layer: QuantizedLayer,
    *,
    mu: float | None = None,
    sigma: float | None = None,
    levels: np.ndarray | None = None,
) -> QuantizedLayer:
    """New codebook registers for the same codes: from lognormal (mu, sigma), or from levels.

    With ``mu``/``sigma`` (ln|w| in the weights' units, channel-normalised when the layer has
    channel scales), bin k's strength becomes the mean of LN(mu, sigma) over the probability
    band that bin k holds in the codes' rank structure (``lognormal_bin_means``); a pruned
    bin 0 stays 0. With ``levels`` (K reals, weights' units) they are used as given. Either
    way they are rounded to the layer's register format; the codes are untouched.

    Raises
    ------
    UserError
        Neither or both kinds of argument, a wrong number of levels, or levels the register
        format cannot represent.
    """
    size = layer.codebook.size
    if (levels is None) == (mu is None and sigma is None):
        raise UserError("retune takes either mu and sigma, or levels")
    if levels is None:
        if mu is None or sigma is None or not sigma > 0:
            raise UserError("retune needs both mu and a positive sigma")
        fractions = layer.bin_fractions()
        start = 1 if layer.pruned else 0
        real = np.zeros(size)
        real[start:] = lognormal_bin_means(mu, sigma, fractions[start:])
        mu_new, sigma_new = mu, sigma
    else:
        real = np.asarray(levels, dtype=np.float64)
        if real.shape != (size,):
            raise UserError(
                f"this {layer.codebook.bits}-bit codebook takes {size} levels, not {real.size}"
            )
        mu_new, sigma_new = layer.mu, layer.sigma
    codebook = Codebook.from_real_levels(
        layer.codebook.scheme, layer.codebook.bits, layer.codebook.format, real
    )
    return replace(layer, codebook=codebook, mu=float(mu_new), sigma=float(sigma_new))


def refit(layer: QuantizedLayer, weights: np.ndarray) -> tuple[float, float]:
    """Lognormal (mu, sigma) of a weight population, normalised like ``layer``'s."""
    magnitudes = np.abs(as_matrix(weights))
    if layer.channel_scales is not None:
        magnitudes = magnitudes / layer.channel_scales[:, None]
    return _fit(MagnitudeHistogram.of(magnitudes))
