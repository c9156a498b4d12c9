"""Per-layer fits of the weight-magnitude population, and an honest null model.

All statistics use the paper's normalisation x = |w| / max|w| (``max_abs`` is reported so the
raw scale can be recovered). For one layer ``analyze_layer`` computes:

- ``mle``: maximum-likelihood lognormal of x over the weights with x >= ``floor`` (default
  1e-4); exact zeros and "dead" weights below the floor are ignored and counted.
- ``size_weighted_fit``: the Jaynes Machine paper's fit (arXiv 2310.06960). A histogram of x
  with ``bins`` equal bins on [0, 1] over the nonzero weights; y = bin centre x count,
  normalised to unit area; least squares of y ~ A' LN(x; mu', sigma'), with R^2. For a true
  lognormal, mu' = mu + sigma^2 and sigma' = sigma.
- ``null``: the same x explained by a lognormal, a half-normal (what Gaussian weights give)
  and a half-Student-t, compared by log-likelihood per weight and AIC, with Kolmogorov-Smirnov
  distances as an absolute check. See ``compare_models`` for the verdict rule.

Cost: one streaming pass over the weights (``analyze.histogram``, ~1.5 ns per weight);
all fits then work on that exact histogram, 8x coarsened (``FIT_DROP_BITS``: bins of relative
width 2^-8, ~10^3 of them): a fit takes ~10 ms, and on a test model the table's printed
digits came out the same as from the fine bins.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, special

from jaynes_hw.analyze.histogram import FiniteBins, MagnitudeHistogram
from jaynes_hw.support.errors import UserError

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
MIN_STUDENT_T_DF, MAX_STUDENT_T_DF = 0.1, 1e6  # beyond 1e6 a Student-t is a Gaussian
FIT_DROP_BITS = 3  # fits work on 8x coarser bins (relative width 2^-8): 8x less work


@dataclass(frozen=True)
class FitOptions:
    """Knobs of ``analyze_layer``.

    Attributes
    ----------
    floor : float
        Weights with x = |w|/max|w| below this are "dead": left out of the MLE and null model.
    bins : int
        Histogram bins on [0, 1] for the size-weighted fit (the paper uses 100).
    ks_threshold : float
        A model whose KS distance exceeds this does not "explain" the layer.
    min_delta_aic : float
        |AIC difference| below which lognormal and Gaussian are not told apart.
    """

    floor: float = 1e-4
    bins: int = 100
    ks_threshold: float = 0.05
    min_delta_aic: float = 10.0


@dataclass(frozen=True)
class Mle:
    """Lognormal maximum-likelihood estimate: ln x ~ N(mu, sigma), x = |w|/max|w|.

    ``mu_raw`` = mu + ln(max_abs) is the same location in the weights' own units (ln|w|).
    """

    mu: float
    sigma: float
    mu_raw: float


@dataclass(frozen=True)
class SizeWeightedFit:
    """The paper's fit y = A' LN(x; mu', sigma') to the size-weighted histogram."""

    A_prime: float
    mu_prime: float
    sigma_prime: float
    r2: float


@dataclass(frozen=True)
class NullComparison:
    """Lognormal against Gaussian (half-normal |w|) and Student-t, on the same x.

    ``loglik_per_weight`` is each model's mean log-density of x at its maximum-likelihood
    parameters; ``delta_aic`` = AIC(gaussian) - AIC(lognormal) over all kept weights
    (positive favours lognormal); ``ks_distance`` is measured on the subsample.
    """

    verdict: str
    best: str
    loglik_per_weight: dict[str, float]
    delta_aic: float
    ks_distance: dict[str, float]
    gaussian_sigma: float
    student_t_df: float
    student_t_scale: float


@dataclass(frozen=True)
class LayerAnalysis:
    """Everything ``analyze`` reports for one layer (the JSON ``layers[]`` record)."""

    name: str
    shape: tuple[int, ...]
    count: int
    nonfinite: int
    zeros: int
    max_abs: float
    ignored_fraction: float
    mle: Mle
    size_weighted_fit: SizeWeightedFit | None
    null: NullComparison
    histogram: dict[str, list[float]]

    def to_json(self, include_histogram: bool = False) -> dict:
        record = asdict(self)
        record["shape"] = list(self.shape)
        if not include_histogram:
            del record["histogram"]
        return record


def weighted_sum(weights: np.ndarray, values: np.ndarray) -> float:
    """sum(weights * values) by numpy's pairwise summation, not a BLAS dot product: BLAS
    sums in an order that depends on its thread count, and a fit must come out the same,
    to the last bit, on a worker process (one thread) as in this one."""
    return float(np.sum(weights * values))


def analyze_layer(
    name: str, weights: np.ndarray, options: FitOptions = FitOptions()
) -> LayerAnalysis:
    """Fit one layer's weight population; see the module docstring.

    One streaming pass builds a ``MagnitudeHistogram``; everything else is computed from it
    (``fit_histogram``).

    Raises
    ------
    UserError
        If the layer has no finite nonzero weights, or its magnitudes have no spread.
    """
    shape = tuple(int(dim) for dim in np.shape(weights))
    return fit_histogram(name, shape, MagnitudeHistogram.of(weights), options)


def fit_histogram(
    name: str,
    shape: tuple[int, ...],
    histogram: MagnitudeHistogram,
    options: FitOptions = FitOptions(),
) -> LayerAnalysis:
    """Fit a layer from the histogram of its weights (see ``analyze_layer``); ~10 ms."""
    count = histogram.total
    if count == 0:
        raise UserError("the layer is empty")
    if histogram.nonfinite == count:
        raise UserError("no finite weights")
    max_abs = histogram.max_abs
    if max_abs == 0.0:
        raise UserError("all weights are zero")
    finite = count - histogram.nonfinite
    nonzero = histogram.finite_bins()
    kept = nonzero.at_least(options.floor * max_abs).coarsened(FIT_DROP_BITS)
    if kept.counts.size < 2:
        raise UserError("weight magnitudes are constant (all within 0.05%): nothing to fit")
    ignored_fraction = 1.0 - kept.total / finite

    mle = lognormal_mle(kept, max_abs)
    centres, density = size_weighted_histogram(nonzero, max_abs, options.bins)
    fit = size_weighted_fit(centres, density, mle)
    null = compare_models(kept, max_abs, mle, options)
    return LayerAnalysis(
        name=name,
        shape=shape,
        count=count,
        nonfinite=histogram.nonfinite,
        zeros=histogram.zeros,
        max_abs=max_abs,
        ignored_fraction=float(ignored_fraction),
        mle=mle,
        size_weighted_fit=fit,
        null=null,
        histogram={"centres": centres.tolist(), "density": density.tolist()},
    )


def lognormal_mle(bins: FiniteBins, max_abs: float) -> Mle:
    """Maximum-likelihood lognormal of x = |w|/max_abs, fitted to the floor-truncated data.

    The kept population is ln x >= c (c: the floor, i.e. the lower edge of the first kept
    bin), so the likelihood is that of a normal truncated at c; without that correction a
    wide layer (sigma ~1.5) loses a tenth of its left tail to the floor and mu is biased by
    ~0.3. Each bin contributes its count at its log-centre plus the variance of ln x inside
    the bin (treated as log-uniform).
    """
    log_lower = np.log(bins.lower / max_abs)
    log_upper = np.log(bins.upper / max_abs)
    log_centres = 0.5 * (log_lower + log_upper)
    weights = bins.counts / bins.total
    mean_log = weighted_sum(weights, log_centres)
    variance = weighted_sum(
        weights, (log_centres - mean_log) ** 2 + (log_upper - log_lower) ** 2 / 12
    )
    cut = float(log_lower[0])
    mu, sigma = truncated_normal_mle(mean_log, variance, cut)
    return Mle(mu=mu, sigma=sigma, mu_raw=mu + math.log(max_abs))


def truncated_normal_mle(mean: float, variance: float, cut: float) -> tuple[float, float]:
    """(mu, sigma) of a normal left-truncated at ``cut``, from the sample mean and variance.

    Returns the plain moments when the truncation removes a negligible mass (< 1e-9).
    """

    def negative_loglik(params: np.ndarray) -> float:
        mu, log_sigma = params
        sigma = math.exp(log_sigma)
        tail = special.log_ndtr((mu - cut) / sigma)  # ln P(X >= cut)
        return log_sigma + (variance + (mean - mu) ** 2) / (2 * sigma**2) + tail

    plain_sigma = math.sqrt(variance)
    if special.ndtr((cut - mean) / plain_sigma) < 1e-9:
        return mean, plain_sigma
    result = optimize.minimize(
        negative_loglik,
        np.array([mean, math.log(plain_sigma)]),
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000},
    )
    return float(result.x[0]), float(math.exp(result.x[1]))


def size_weighted_histogram(
    bins: FiniteBins, max_abs: float, bin_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's size-weighted histogram of x = |w|/max|w| on [0, 1], ``bin_count`` bins.

    Counts come from the fine histogram's cumulative counts, interpolated linearly inside
    the (at most 0.05 % wide) fine bins that straddle an edge. Returns bin centres and
    y = centre x count normalised to unit area (sum y * width = 1).
    """
    cumulative = np.cumsum(bins.counts)
    points = np.column_stack([bins.lower, bins.upper]).reshape(-1)
    below = np.column_stack([cumulative - bins.counts, cumulative]).reshape(-1)
    edges = max_abs * np.arange(bin_count + 1) / bin_count
    counts = np.diff(np.interp(edges, points, below))
    width = 1.0 / bin_count
    centres = (np.arange(bin_count) + 0.5) * width
    weighted = centres * counts
    return centres, weighted / (weighted.sum() * width)


def lognormal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """LN(x; mu, sigma): density of x when ln x ~ N(mu, sigma)."""
    return np.exp(-((np.log(x) - mu) ** 2) / (2.0 * sigma**2)) / (
        x * sigma * math.sqrt(2 * math.pi)
    )


def size_weighted_fit(centres: np.ndarray, density: np.ndarray, mle: Mle) -> SizeWeightedFit | None:
    """Least-squares fit of A' LN(x; mu', sigma') to a size-weighted density, with R^2.

    Starts from the lognormal prediction (A'=1, mu'=mu+sigma^2, sigma'=sigma). Returns None
    when the optimiser does not converge (the caller reports the layer without it).
    """

    log_x = np.log(centres)

    def model(x: np.ndarray, amplitude: float, mu: float, sigma: float) -> np.ndarray:
        return amplitude * lognormal_pdf(x, mu, sigma)

    # Levenberg-Marquardt (MINPACK) over (ln A', mu', ln sigma'), which keeps A' and sigma'
    # positive without bounds; the Jacobian is analytic.
    def residuals(params: np.ndarray) -> np.ndarray:
        return model(centres, math.exp(params[0]), params[1], math.exp(params[2])) - density

    def jacobian(params: np.ndarray) -> np.ndarray:
        amplitude, mu, sigma = math.exp(params[0]), params[1], math.exp(params[2])
        value = model(centres, amplitude, mu, sigma)
        z = (log_x - mu) / sigma
        return np.column_stack([value, value * z / sigma, value * (z**2 - 1)])

    start = np.array([0.0, mle.mu + mle.sigma**2, math.log(max(mle.sigma, 1e-3))])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = optimize.least_squares(residuals, start, jac=jacobian, method="lm", max_nfev=5000)
    if not result.success or not np.all(np.isfinite(result.x)):
        return None
    amplitude, mu_prime, sigma_prime = (
        math.exp(result.x[0]),
        float(result.x[1]),
        math.exp(result.x[2]),
    )
    residual = density - model(centres, amplitude, mu_prime, sigma_prime)
    total = density - density.mean()
    r2 = (
        1.0 - weighted_sum(residual, residual) / weighted_sum(total, total)
        if total.any()
        else float("nan")
    )
    return SizeWeightedFit(float(amplitude), float(mu_prime), float(sigma_prime), r2)


def compare_models(
    kept: FiniteBins, max_abs: float, mle: Mle, options: FitOptions
) -> NullComparison:
    """Lognormal vs half-normal vs half-Student-t, each at its maximum likelihood, on x.

    Log-likelihoods are per kept weight, each model conditioned on x >= the floor like the
    data; the lognormal is the truncated MLE, the half-normal's scale is its second-moment
    MLE, the Student-t's df and scale are fitted numerically on an 8x coarser histogram and
    its likelihood evaluated on ``kept``. KS distances are read at the edges of ``kept``'s
    bins (exact there; the true supremum is at most one bin's mass larger).
    The verdict is ``lognormal`` or ``gaussian`` for the better of the two when |delta AIC| >=
    ``min_delta_aic`` and its KS distance <= ``ks_threshold``; otherwise ``neither``.
    ``best`` names the lowest AIC among all three.
    """
    n = kept.total
    weights = kept.counts / n
    lower = kept.lower / max_abs
    upper = kept.upper / max_abs
    centres = 0.5 * (lower + upper)

    cut = float(lower[0])
    log_centres = 0.5 * (np.log(lower) + np.log(upper))
    loglik_lognormal = weighted_sum(weights, lognormal_logpdf(centres, log_centres, mle)) - float(
        special.log_ndtr((mle.mu - math.log(cut)) / mle.sigma)
    )
    mean_square = weighted_sum(weights, (lower**2 + lower * upper + upper**2) / 3.0)
    gaussian_sigma = math.sqrt(mean_square)
    gaussian_kept = special.erfc(cut / (gaussian_sigma * math.sqrt(2.0)))
    loglik_gaussian = (
        math.log(2.0)
        - math.log(gaussian_sigma)
        - LOG_SQRT_2PI
        - mean_square / (2 * gaussian_sigma**2)
        - math.log(gaussian_kept)
    )

    coarse = kept.coarsened(3)
    coarse_centres = 0.5 * (coarse.lower + coarse.upper) / max_abs
    coarse_weights = coarse.counts / n

    def negative_loglik(params: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
        df, scale = math.exp(params[0]), math.exp(params[1])
        kept_mass = 2.0 * special.stdtr(df, -cut / scale)  # t's sf, minus scipy.stats' overhead
        return -weighted_sum(w, half_t_logpdf(x, df, scale)) + math.log(kept_mass)

    start = np.array([math.log(5.0), math.log(gaussian_sigma)])
    result = optimize.minimize(
        negative_loglik,
        start,
        args=(coarse_centres, coarse_weights),
        method="Nelder-Mead",
        # df bounded: for Gaussian weights the likelihood keeps rising, ever more slowly,
        # as df grows, and an unbounded search wanders towards infinity for 2000 steps
        bounds=[(math.log(MIN_STUDENT_T_DF), math.log(MAX_STUDENT_T_DF)), (None, None)],
        options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 2000},
    )
    df = float(math.exp(result.x[0]))
    scale = float(math.exp(result.x[1]))
    loglik_student_t = weighted_sum(weights, half_t_logpdf(centres, df, scale)) - math.log(
        2.0 * special.stdtr(df, -cut / scale)
    )

    delta_aic = 2.0 * n * (loglik_lognormal - loglik_gaussian) - 2.0  # lognormal has 1 more
    cdfs = {
        "lognormal": lambda x: special.ndtr((np.log(x) - mle.mu) / mle.sigma),
        "gaussian": lambda x: special.erf(x / (gaussian_sigma * math.sqrt(2.0))),
        "student_t": lambda x: 2.0 * special.stdtr(df, x / scale) - 1.0,
    }
    cumulative = np.cumsum(weights)

    # a bin's upper edge is the next one's lower edge unless empty bins lie between: the
    # CDFs are evaluated once per distinct edge
    shared = upper[:-1] == lower[1:]
    extra_upper = np.append(~shared, True)

    def ks_distance(cdf) -> float:
        # the models conditioned on x >= cut, like the kept data
        at_lower = cdf(lower)
        at_upper = np.empty_like(at_lower)
        at_upper[:-1][shared] = at_lower[1:][shared]
        at_upper[extra_upper] = cdf(upper[extra_upper])
        start = at_lower[0]  # the cut is the first kept edge
        return float(
            max(
                np.abs(cumulative - (at_upper - start) / (1.0 - start)).max(),
                np.abs(cumulative - weights - (at_lower - start) / (1.0 - start)).max(),
            )
        )

    ks = {model: ks_distance(cdf) for model, cdf in cdfs.items()}
    leader = "lognormal" if delta_aic > 0 else "gaussian"
    if abs(delta_aic) >= options.min_delta_aic and ks[leader] <= options.ks_threshold:
        verdict = leader
    else:
        verdict = "neither"
    loglik = {
        "lognormal": loglik_lognormal,
        "gaussian": loglik_gaussian,
        "student_t": loglik_student_t,
    }
    parameters = {"lognormal": 2, "gaussian": 1, "student_t": 2}
    best = max(loglik, key=lambda model: n * loglik[model] - parameters[model])
    return NullComparison(
        verdict=verdict,
        best=best,
        loglik_per_weight=loglik,
        delta_aic=float(delta_aic),
        ks_distance=ks,
        gaussian_sigma=gaussian_sigma,
        student_t_df=df,
        student_t_scale=scale,
    )


def lognormal_logpdf(x: np.ndarray, log_x: np.ndarray, mle: Mle) -> np.ndarray:
    """ln LN(x; mu, sigma), given x and ln x."""
    return -log_x - math.log(mle.sigma) - LOG_SQRT_2PI - (log_x - mle.mu) ** 2 / (2 * mle.sigma**2)


def half_t_logpdf(x: np.ndarray, df: float, scale: float) -> np.ndarray:
    """Log-density of |T| where T / scale ~ Student-t(df), for x >= 0."""
    constant = (
        math.log(2.0)
        + special.gammaln((df + 1) / 2)
        - special.gammaln(df / 2)
        - 0.5 * math.log(df * math.pi)
        - math.log(scale)
    )
    return constant - (df + 1) / 2 * np.log1p((x / scale) ** 2 / df)
