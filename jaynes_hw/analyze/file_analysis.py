"""``jaynes-hw analyze``: fit every eligible layer of one or many weight files, in parallel.

A tensor is a *layer* when it is floating point, has at least ``min_size`` elements, is not
a vector (biases, normalisation scales; unless ``include_vectors``) and its name matches
``layers`` (a regular expression, searched). Layers that cannot be analysed (all zero,
constant, no finite values, unreadable) are listed in ``skipped`` with the reason; the others
are still analysed.

The work is split into tasks (``support.cluster``): in memory-mapped formats (safetensors,
``.npy``) one task analyses a batch of whole tensors of at most ``BLOCK_ELEMENTS`` elements in
all, or counts one block of rows of a larger tensor, reading the file itself; a fit task then
merges that tensor's block histograms (exact: counts add) and fits. Only histograms and fits
travel between processes, and a worker's peak memory is about one block. Other formats'
readers load a whole file, so there one task analyses a whole file. A layer that cannot be
analysed is skipped with its reason; a file that cannot be read stops the run. The results
are the same on one process or many.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from jaynes_hw.analyze.fit import FitOptions, LayerAnalysis, fit_histogram
from jaynes_hw.analyze.histogram import MagnitudeHistogram
from jaynes_hw.support.cluster import as_completed, open_executor
from jaynes_hw.support.errors import UserError
from jaynes_hw.weights import WeightTensor, detect_format, iter_tensors

# Formats whose tensors are memory-mapped: a worker reads one tensor (or block) of them alone.
MAPPED_FORMATS = ("npy", "safetensors", "safetensors-index")
BLOCK_ELEMENTS = 1 << 26  # a tensor larger than this is counted in row blocks (256 MB f32)
PARALLEL_ABOVE_ELEMENTS = 1 << 26  # less work than this (~0.1 s) runs in this process


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
        return summarize(self.layers, self.seconds)

    def to_json(self, include_histograms: bool = False) -> dict:
        return {
            "source": self.source,
            "format": self.format,
            "layers": [layer.to_json(include_histograms) for layer in self.layers],
            "skipped": self.skipped,
            "excluded": dict(self.excluded),
            "summary": self.summary(),
        }


def summarize(layers: Sequence[LayerAnalysis], seconds: float) -> dict:
    """Mean and std across ``layers`` of the paper's Table 2 columns, and the verdicts."""

    def spread(values: Iterable[float]) -> dict[str, float]:
        finite = [value for value in values if value is not None and math.isfinite(value)]
        if not finite:
            return {"mean": float("nan"), "std": float("nan")}
        return {"mean": float(np.mean(finite)), "std": float(np.std(finite))}

    weights = sum(layer.count for layer in layers)
    fits = [layer.size_weighted_fit for layer in layers if layer.size_weighted_fit]
    return {
        "layers": len(layers),
        "weights": weights,
        "r2": spread(fit.r2 for fit in fits),
        "A_prime": spread(fit.A_prime for fit in fits),
        "mu_prime": spread(fit.mu_prime for fit in fits),
        "sigma_prime": spread(fit.sigma_prime for fit in fits),
        "mle_mu": spread(layer.mle.mu for layer in layers),
        "mle_sigma": spread(layer.mle.sigma for layer in layers),
        "verdicts": dict(Counter(layer.null.verdict for layer in layers)),
        "best_model": dict(Counter(layer.null.best for layer in layers)),
        "seconds": seconds,
        "weights_per_second": weights / seconds if seconds else None,
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


@dataclass(frozen=True)
class TensorBlock:
    """Rows ``rows`` (all when None) of tensor ``name`` of a weight file: one counting task."""

    path: str
    format: str
    name: str
    rows: tuple[int, int] | None = None


def row_blocks(tensor: WeightTensor, block_elements: int = BLOCK_ELEMENTS) -> list[tuple]:
    """The row ranges a tensor is counted in: one range unless it exceeds ``block_elements``."""
    if tensor.size <= block_elements or len(tensor.shape) < 2:
        return [None]
    rows = tensor.shape[0]
    step = max(1, block_elements // (tensor.size // rows))
    return [(start, min(start + step, rows)) for start in range(0, rows, step)]


GONE = "the tensor is gone from the file (was it changed?)"


def find_tensor(path: str, format: str, name: str) -> WeightTensor:
    for tensor in iter_tensors(path, format):
        if tensor.name == name:
            return tensor
    raise UserError(f"{path}: {name}: {GONE}")


def count_block(block: TensorBlock) -> MagnitudeHistogram:
    """Task: the magnitude histogram of one block, read from the file on the worker."""
    return count_tensor(find_tensor(block.path, block.format, block.name), block.rows)


def count_tensor(tensor: WeightTensor, rows: tuple[int, int] | None = None) -> MagnitudeHistogram:
    """The magnitude histogram of a tensor (or of its rows ``rows``), as stored: no copy of
    float32 or BF16 weights."""
    stored = tensor.read_stored()
    if rows is not None:
        stored = stored[rows[0] : rows[1]]
    if tensor.bfloat16:
        return MagnitudeHistogram.of_bfloat16_bits(stored)
    if stored.dtype not in (np.float16, np.float32, np.float64):
        stored = tensor.load()  # dequantized integers (TFLite): small tensors
    return MagnitudeHistogram.of(stored)


def fit_blocks(
    name: str, shape: tuple[int, ...], fit: FitOptions, *parts: MagnitudeHistogram
) -> LayerAnalysis:
    """Task: merge a layer's block histograms and fit it."""
    return fit_histogram(name, shape, MagnitudeHistogram.merged(parts), fit)


def analyze_in_one_task(
    path: str, format: str, names: list[str], fit: FitOptions
) -> list[LayerAnalysis | dict[str, str]]:
    """Task: analyse the tensors ``names`` of one file (read once, in file order); a tensor
    that cannot be analysed comes back as ``{"name", "reason"}``."""
    results: dict[str, LayerAnalysis | dict[str, str]] = {}
    wanted = set(names)
    for tensor in iter_tensors(path, format):
        if tensor.name not in wanted:
            continue
        try:
            histogram = count_tensor(tensor)
            results[tensor.name] = fit_histogram(tensor.name, tensor.shape, histogram, fit)
        except UserError as error:
            results[tensor.name] = {"name": tensor.name, "reason": str(error)}
    return [results.get(name, {"name": name, "reason": GONE}) for name in names]


def analyze_files(
    paths: Sequence[str | os.PathLike[str]],
    select: SelectOptions = SelectOptions(),
    fit: FitOptions = FitOptions(),
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool | None = None,
    parallel_above: int = PARALLEL_ABOVE_ELEMENTS,
    block_elements: int = BLOCK_ELEMENTS,
    executor=None,
) -> list[FileAnalysis]:
    """Analyse every layer of every file, on ``workers`` local processes or a Dask scheduler
    (or on ``executor``, a ``dask.distributed.Client`` you hold, which stays open).

    The files are listed here (headers only); the tasks read the weights. Work of fewer than
    ``parallel_above`` elements runs in this process whatever ``workers`` says (a cluster
    takes longer to start than the work); tensors above ``block_elements`` are counted in row
    blocks. Returns one ``FileAnalysis`` per path, layers in
    file order, the same whatever runs them.

    Raises
    ------
    UserError
        An unreadable file, a bad ``layers`` pattern, a file in which no layer could be
        analysed, or an unreachable scheduler.
    """
    started = time.perf_counter()
    analyses, readable = [], []
    for path in paths:
        format, candidates, excluded = select_layers(path, select)
        analysis = FileAnalysis(source=str(path), format=format, excluded=excluded)
        tensors = []
        for tensor in candidates:
            if tensor.skip_reason is not None:
                analysis.skipped.append({"name": tensor.name, "reason": tensor.skip_reason})
            else:
                tensors.append(tensor)
        if not tensors:
            raise UserError(nothing_done_message(path, analysis.skipped, excluded, select))
        analyses.append(analysis)
        readable.append(tensors)
    elements = sum(tensor.size for tensors in readable for tensor in tensors)
    if scheduler is None and elements < parallel_above:
        workers = 1
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(open_executor(workers, scheduler))
        results = _run_tasks(executor, analyses, readable, fit, block_elements, progress)
    seconds = time.perf_counter() - started
    for analysis, file_results in zip(analyses, results, strict=True):
        # analysed together, files share one wall time: the caller reports the run's rate
        analysis.seconds = seconds if len(analyses) == 1 else 0.0
        for result in file_results:
            if isinstance(result, LayerAnalysis):
                analysis.layers.append(result)
            else:
                analysis.skipped.append(result)
        if not analysis.layers:
            raise UserError(
                nothing_done_message(analysis.source, analysis.skipped, Counter(), select)
            )
    return analyses


def _run_tasks(
    executor,
    analyses: list[FileAnalysis],
    readable: list[list[WeightTensor]],
    fit: FitOptions,
    block_elements: int,
    progress: bool | None,
) -> list[list[LayerAnalysis | dict[str, str]]]:
    """Submit every file's tasks, gather their results in file order (skips as dicts).

    A task analyses a batch of whole tensors of one file (up to ``block_elements`` of them
    in memory-mapped formats, the whole file in others), or counts one block of a tensor
    larger than that, whose fit task then merges the blocks.
    """
    results: list[list] = [[None] * len(tensors) for tensors in readable]
    # future -> (file index, the indices of the tensors it analyses, whether it is the fit
    # of one tensor counted in blocks: its errors are that layer's, not the file's)
    pending = {}
    for file_index, (analysis, tensors) in enumerate(zip(analyses, readable, strict=True)):
        path, format = analysis.source, analysis.format
        batch_limit = block_elements if format in MAPPED_FORMATS else math.inf
        batch, batch_elements = [], 0
        for index, tensor in enumerate(tensors):
            blocks = row_blocks(tensor, block_elements) if format in MAPPED_FORMATS else [None]
            if len(blocks) > 1:
                parts = [
                    executor.submit(
                        count_block, TensorBlock(path, format, tensor.name, rows), pure=False
                    )
                    for rows in blocks
                ]
                future = executor.submit(
                    fit_blocks, tensor.name, tensor.shape, fit, *parts, pure=False
                )
                pending[future] = (file_index, [index], True)
                continue
            if batch and batch_elements + tensor.size > batch_limit:
                future = _submit_batch(executor, analysis, tensors, batch, fit)
                pending[future] = (file_index, batch, False)
                batch, batch_elements = [], 0
            batch.append(index)
            batch_elements += tensor.size
        if batch:
            future = _submit_batch(executor, analysis, tensors, batch, fit)
            pending[future] = (file_index, batch, False)
    show = sys.stderr.isatty() if progress is None else progress
    total = sum(len(tensors) for tensors in readable)
    with tqdm(total=total, desc="analyze", unit="layer", disable=not show, file=sys.stderr) as bar:
        for future, result, error in as_completed(executor, pending):
            file_index, indices, blocked = pending[future]
            if blocked and isinstance(error, UserError):
                result = [{"name": readable[file_index][indices[0]].name, "reason": str(error)}]
            elif error is not None:
                raise error  # a file that cannot be read, or a bug: stop here
            elif blocked:
                result = [result]
            for index, layer in zip(indices, result, strict=True):
                results[file_index][index] = layer
            bar.update(len(indices))
    return results


def _submit_batch(executor, analysis: FileAnalysis, tensors, indices: list[int], fit: FitOptions):
    names = [tensors[index].name for index in indices]
    # pure=False: the same path may hold other weights by the next call on a kept client
    return executor.submit(
        analyze_in_one_task, analysis.source, analysis.format, names, fit, pure=False
    )


def analyze_file(
    path: str | os.PathLike[str],
    select: SelectOptions = SelectOptions(),
    fit: FitOptions = FitOptions(),
    progress: bool | None = None,
) -> FileAnalysis:
    """Analyse every layer of one weight file in this process (see ``analyze_files``)."""
    (analysis,) = analyze_files([path], select, fit, progress=progress)
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
