"""One layer quantized: per-connection codes (sign + magnitude bin) and a tunable codebook.

A layer's weights W (n_out x n_in; higher-rank tensors are viewed as
``shape[0] x prod(rest)``) become codes and a ``Codebook`` of K = 2^(bits-1) levels chosen by
a scheme (``schemes``, ``levels``). Codes are assigned to the nearest *hardware* level, so
the reported errors are those of the integers the hardware holds. ``retune`` gives new
strengths to the same codes, from a lognormal (mu, sigma) or from K levels; ``refit`` fits
(mu, sigma) to a moved population.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from jaynes_hw.analyze.fit import lognormal_mle
from jaynes_hw.analyze.histogram import MagnitudeHistogram
from jaynes_hw.contract.codebook import Codebook, LevelFormat, check_bits, pack_codes, unpack_codes
from jaynes_hw.quantize.baselines import baseline_reconstruction
from jaynes_hw.quantize.levels import WeightedMagnitudes, design_levels, lognormal_bin_means
from jaynes_hw.quantize.schemes import BASELINE_SCHEMES, default_format
from jaynes_hw.support.errors import UserError


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


def quantize_layer(
    name: str,
    weights: np.ndarray,
    scheme: str = "lognormal",
    bits: int = 4,
    *,
    pruned: bool = False,
    per_channel: bool = False,
    scale_bits: int = 0,
    format: LevelFormat | None = None,
) -> QuantizedLayer:
    """Quantize one layer to codes and a hardware codebook (see the module docstring).

    Parameters
    ----------
    per_channel : bool
        Divide each output row by its own scale first (absmax for ``int``, the root mean
        square of the row otherwise) and keep those scales as ``channel_scales``.
    scale_bits : int
        With ``per_channel``: round the scales to what a ``scale_bits`` register holds
        (``integer_channel_scales``) before the codebook is made and the codes chosen, so
        the codes are the nearest levels under the scales the hardware multiplies by. 0:
        float scales.

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
        if scale_bits:
            steps, unit = integer_channel_scales(channel_scales, scale_bits)
            channel_scales = steps * unit
        magnitudes = magnitudes / channel_scales[:, None]
    histogram = MagnitudeHistogram.of(magnitudes)
    population = WeightedMagnitudes.of(histogram)
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


def integer_channel_scales(scales: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """(c, unit): positive channel scales as integers of ``bits`` bits, the largest
    2^bits - 1, and the real value of one step; c >= 1, so no channel is switched off."""
    top = (1 << bits) - 1
    unit = float(np.max(scales)) / top
    return np.clip(np.rint(scales / unit), 1, top).astype(np.int64), unit


def _channel_scales(magnitudes: np.ndarray, scheme: str) -> np.ndarray:
    """One scale per row, normalised to geometric mean 1 over the rows that have one.

    Lognormal-like schemes use the row's root mean square: for rows that differ only in
    scale it is proportional to their geometric mean, but a row of many near-zero weights
    and a few real ones (a dead or pruned neuron) keeps the scale of its real ones; a
    geometric mean would fall to the near-zeros and blow the real ones up past every other
    row's. An all-zero row gets scale 1."""
    if scheme == "int":
        scales = magnitudes.max(axis=1)
    else:
        scales = np.sqrt(np.mean(magnitudes**2, axis=1))
    usable = np.isfinite(scales) & (scales > 0)
    if not usable.any():
        return np.ones(len(scales))
    scales = scales / np.exp(np.mean(np.log(scales[usable])))
    return np.where(usable, scales, 1.0)


def assign_codes(matrix: np.ndarray, magnitudes: np.ndarray, codebook: Codebook) -> np.ndarray:
    """Nearest hardware level for every magnitude, plus the sign: the stored codes."""
    real = codebook.real_levels
    order = np.argsort(real, kind="stable")
    thresholds = 0.5 * (real[order][1:] + real[order][:-1])
    bins = order[np.searchsorted(thresholds, magnitudes, side="left")]
    return pack_codes(matrix < 0, bins, codebook.bits)


def reconstruction(weights: np.ndarray, scheme: str, bits: int, **options) -> np.ndarray:
    """Dequantized weights under any scheme of ``ALL_SCHEMES`` (n_out x n_in, float64)."""
    if scheme in BASELINE_SCHEMES:
        return baseline_reconstruction(as_matrix(weights), scheme, bits)
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
