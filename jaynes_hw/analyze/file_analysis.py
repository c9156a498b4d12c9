"""``jaynes-hw analyze``: fit every eligible layer of a weight file, one tensor at a time.

A tensor is a *layer* when it is floating point, has at least ``min_size`` elements, is not
a vector (biases, normalisation scales; unless ``include_vectors``) and its name matches
``layers`` (a regular expression, searched). Layers that cannot be analysed (all zero,
constant, no finite values, unreadable) are listed in ``skipped`` with the reason; the others
are still analysed. Peak memory is one tensor (plus its float32 copy when stored narrower).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from jaynes_hw.analyze.fit import FitOptions, LayerAnalysis, analyze_layer
from jaynes_hw.support.errors import UserError
from jaynes_hw.weights import WeightTensor, detect_format, iter_tensors


@dataclass(frozen=True)
class SelectOptions:
    """Which tensors count as layers (see the module docstring)."""

    min_size: int = 10_000
    layers: str | None = None
    include_vectors: bool = False


@dataclass
class FileAnalysis:
    """The result of analysing one weight file (the ``analyze`` JSON document)."""

    source: str
    format: str
    layers: list[LayerAnalysis] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def weights(self) -> int:
        return sum(layer.count for layer in self.layers)

    def summary(self) -> dict:
        """Mean and std across layers of the paper's Table 2 columns, and the verdicts."""

        def spread(values: Iterable[float]) -> dict[str, float]:
            finite = [value for value in values if value is not None and math.isfinite(value)]
            if not finite:
                return {"mean": float("nan"), "std": float("nan")}
            return {"mean": float(np.mean(finite)), "std": float(np.std(finite))}

        fits = [layer.size_weighted_fit for layer in self.layers if layer.size_weighted_fit]
        return {
            "layers": len(self.layers),
            "weights": self.weights,
            "r2": spread(fit.r2 for fit in fits),
            "A_prime": spread(fit.A_prime for fit in fits),
            "mu_prime": spread(fit.mu_prime for fit in fits),
            "sigma_prime": spread(fit.sigma_prime for fit in fits),
            "mle_mu": spread(layer.mle.mu for layer in self.layers),
            "mle_sigma": spread(layer.mle.sigma for layer in self.layers),
            "verdicts": dict(Counter(layer.null.verdict for layer in self.layers)),
            "best_model": dict(Counter(layer.null.best for layer in self.layers)),
            "seconds": self.seconds,
            "weights_per_second": self.weights / self.seconds if self.seconds else None,
        }

    def to_json(self, include_histograms: bool = False) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "layers": [layer.to_json(include_histograms) for layer in self.layers],
            "skipped": self.skipped,
            "excluded": dict(self.excluded),
            "summary": self.summary(),
        }


def exclusion_reason(tensor: WeightTensor, select: SelectOptions, pattern) -> str | None:
    """Why a tensor is not a layer under ``select`` (a ``excluded`` counter key), or None."""
    if tensor.skip_reason == "not a floating-point tensor":
        return "not_float"
    if pattern is not None and not pattern.search(tensor.name):
        return "name_filter"
    if tensor.size < select.min_size:
        return "below_min_size"
    if len(tensor.shape) < 2 and not select.include_vectors:
        return "vectors"
    return None


def select_layers(
    path: str | os.PathLike[str], select: SelectOptions
) -> tuple[str, list[WeightTensor], Counter]:
    """The file's format, its layers (not yet read), and how many tensors were left out why."""
    try:
        pattern = re.compile(select.layers) if select.layers else None
    except re.error as error:
        raise UserError(
            f"--layers: invalid regular expression {select.layers!r}: {error}"
        ) from None
    format = detect_format(path)
    candidates, excluded = [], Counter()
    for tensor in iter_tensors(path, format):
        reason = exclusion_reason(tensor, select, pattern)
        if reason is None:
            candidates.append(tensor)
        else:
            excluded[reason] += 1
    return format, candidates, excluded


def analyze_file(
    path: str | os.PathLike[str],
    select: SelectOptions = SelectOptions(),
    fit: FitOptions = FitOptions(),
    progress: bool | None = None,
) -> FileAnalysis:
    """Analyse every layer of a weight file.

    Parameters
    ----------
    progress : bool or None
        Show a progress bar on stderr; None shows it only when stderr is a terminal.

    Raises
    ------
    UserError
        Unreadable file, bad ``layers`` pattern, or no layer could be analysed.
    """
    started = time.perf_counter()
    format, candidates, excluded = select_layers(path, select)
    analysis = FileAnalysis(source=str(path), format=format, excluded=excluded)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(candidates, desc="analyze", unit="layer", disable=not show, file=sys.stderr)
    for tensor in bar:
        if tensor.skip_reason is not None:
            analysis.skipped.append({"name": tensor.name, "reason": tensor.skip_reason})
            continue
        try:
            analysis.layers.append(analyze_layer(tensor.name, tensor.load(), fit))
        except UserError as error:
            analysis.skipped.append({"name": tensor.name, "reason": str(error)})
    analysis.seconds = time.perf_counter() - started
    if not analysis.layers:
        raise UserError(nothing_done_message(path, analysis.skipped, analysis.excluded, select))
    return analysis


def nothing_done_message(
    path,
    skipped: list[dict[str, str]],
    excluded: Counter,
    select: SelectOptions,
    verb: str = "analysed",
) -> str:
    """The one-line error for a file in which no layer could be processed."""
    if skipped:
        first = skipped[0]
        return (
            f"{path}: no layer could be {verb} ({len(skipped)} skipped; "
            f"{first['name']}: {first['reason']})"
        )
    excluded = ", ".join(f"{count} {reason}" for reason, count in excluded.items())
    return (
        f"{path}: no layer with at least {select.min_size} elements"
        + (f" matching {select.layers!r}" if select.layers else "")
        + (f" (tensors excluded: {excluded})" if excluded else " (the file has no tensors)")
    )
