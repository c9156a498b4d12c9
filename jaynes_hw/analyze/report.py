"""Presenting an analysis: the terminal table, the CSV rows and the PNG plots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from jaynes_hw.analyze.file_analysis import FileAnalysis
from jaynes_hw.analyze.fit import LayerAnalysis, lognormal_pdf
from jaynes_hw.support.extras import require_extra
from jaynes_hw.support.files import atomic_output, write_csv

CSV_COLUMNS = (
    "source",
    "name",
    "shape",
    "count",
    "nonfinite",
    "zeros",
    "max_abs",
    "ignored_fraction",
    "mle_mu",
    "mle_sigma",
    "mle_mu_raw",
    "A_prime",
    "mu_prime",
    "sigma_prime",
    "r2",
    "verdict",
    "best",
    "delta_aic",
    "loglik_lognormal",
    "loglik_gaussian",
    "loglik_student_t",
    "ks_lognormal",
    "ks_gaussian",
    "ks_student_t",
    "student_t_df",
)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def format_table(analysis: FileAnalysis, name_width: int = 40, counted: str = "weights") -> str:
    """One line per layer and a model summary (mean ± std), like the paper's Table 2;
    ``counted`` names what the count column counts (``weights``, or ``outputs``)."""
    header = (
        f"{'layer':<{name_width}} {counted:>10} {'mu':>7} {'sigma':>6} "
        f"{'A_prime':>7} {'mu_prime':>8} {'sigma_pr':>8} {'R^2':>6} {'verdict':>9} {'best':>9}"
    )
    lines = [header, "-" * len(header)]
    for layer in analysis.layers:
        fit = layer.size_weighted_fit
        name = layer.name if len(layer.name) <= name_width else "…" + layer.name[-name_width + 1 :]
        lines.append(
            f"{name:<{name_width}} {layer.count:>10} {layer.mle.mu:>7.3f} {layer.mle.sigma:>6.3f} "
            f"{_number(fit and fit.A_prime, '.3f'):>7} {_number(fit and fit.mu_prime, '.3f'):>8} "
            f"{_number(fit and fit.sigma_prime, '.3f'):>8} {_number(fit and fit.r2, '.4f'):>6} "
            f"{layer.null.verdict:>9} {layer.null.best:>9}"
        )
    lines.append("-" * len(header))
    lines.append(format_summary(analysis.summary()))
    for skipped in analysis.skipped:
        lines.append(f"skipped {skipped['name']}: {skipped['reason']}")
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    """Two lines: mean ± std across layers of the Table 2 columns, and the verdict counts."""

    def pm(key: str, spec: str) -> str:
        return f"{_number(summary[key]['mean'], spec)} ± {_number(summary[key]['std'], spec)}"

    verdicts = ", ".join(f"{verdict} {count}" for verdict, count in summary["verdicts"].items())
    best = ", ".join(f"{model} {count}" for model, count in summary["best_model"].items())
    return (
        f"{summary['layers']} layers, {summary['weights']} weights: "
        f"R^2 {pm('r2', '.4f')}, A' {pm('A_prime', '.3f')}, mu' {pm('mu_prime', '.3f')}, "
        f"sigma' {pm('sigma_prime', '.3f')}\n"
        f"verdict (lognormal vs gaussian): {verdicts}; best of three: {best}"
    )


def csv_row(source: str, layer: LayerAnalysis) -> list:
    fit = layer.size_weighted_fit
    null = layer.null
    return [
        source,
        layer.name,
        "x".join(map(str, layer.shape)),
        layer.count,
        layer.nonfinite,
        layer.zeros,
        layer.max_abs,
        layer.ignored_fraction,
        layer.mle.mu,
        layer.mle.sigma,
        layer.mle.mu_raw,
        fit and fit.A_prime,
        fit and fit.mu_prime,
        fit and fit.sigma_prime,
        fit and fit.r2,
        null.verdict,
        null.best,
        null.delta_aic,
        null.loglik_per_weight["lognormal"],
        null.loglik_per_weight["gaussian"],
        null.loglik_per_weight["student_t"],
        null.ks_distance["lognormal"],
        null.ks_distance["gaussian"],
        null.ks_distance["student_t"],
        null.student_t_df,
    ]


def write_analysis_csv(path: str | os.PathLike[str], analyses: list[FileAnalysis]) -> None:
    """One row per layer of every file, the file in the first column."""
    rows = [csv_row(analysis.source, layer) for analysis in analyses for layer in analysis.layers]
    write_csv(path, CSV_COLUMNS, rows)


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "layer"


def write_plots(directory: str | os.PathLike[str], analyses: list[FileAnalysis]) -> list[Path]:
    """``write_file_plots`` for each file: into ``directory`` for one file, else into one
    subfolder per file (named after it). Returns the files written."""
    if len(analyses) == 1:
        return write_file_plots(directory, analyses[0])
    written, used_names = [], set()
    for index, analysis in enumerate(analyses):
        stem = _safe_file_name(Path(analysis.source).name)
        if stem in used_names:
            stem = f"{stem}_{index}"
        used_names.add(stem)
        written += write_file_plots(Path(directory) / stem, analysis)
    return written


def write_file_plots(directory: str | os.PathLike[str], analysis: FileAnalysis) -> list[Path]:
    """One size-weighted histogram per layer with its fit, and a summary of mu', sigma'.

    Needs matplotlib (the ``plots`` extra). Returns the files written.
    """
    require_extra("matplotlib", "plots", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used_names: set[str] = set()
    for index, layer in enumerate(analysis.layers):
        stem = _safe_file_name(layer.name)
        if stem in used_names:
            stem = f"{stem}_{index}"
        used_names.add(stem)
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        centres = np.asarray(layer.histogram["centres"])
        density = np.asarray(layer.histogram["density"])
        width = centres[1] - centres[0] if centres.size > 1 else 1.0
        axes.bar(centres, density, width=width, color="#9ab", label="size-weighted |w|/max")
        fit = layer.size_weighted_fit
        if fit is not None:
            x = np.linspace(width / 20, 1.0, 400)
            axes.plot(
                x,
                fit.A_prime * lognormal_pdf(x, fit.mu_prime, fit.sigma_prime),
                color="#c30",
                label=f"A' LN(mu'={fit.mu_prime:.2f}, sigma'={fit.sigma_prime:.2f}), "
                f"R²={fit.r2:.3f}",
            )
        axes.set_xlabel("x = |w| / max|w|")
        axes.set_ylabel("bin centre × count (unit area)")
        axes.set_title(f"{layer.name}  ({layer.null.verdict})", fontsize=9)
        axes.legend(fontsize=8)
        figure.tight_layout()
        written.append(_save(figure, directory / f"{stem}.png"))
        plt.close(figure)

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), dpi=100, sharex=True)
    index = np.arange(len(analysis.layers))
    fits = [layer.size_weighted_fit for layer in analysis.layers]
    top.plot(index, [f.mu_prime if f else np.nan for f in fits], "o-", color="#236")
    top.set_ylabel("mu'")
    bottom.plot(index, [f.sigma_prime if f else np.nan for f in fits], "o-", color="#c30")
    bottom.axhline(0.65, color="grey", linestyle="--", linewidth=1, label="paper's 0.65")
    bottom.set_ylabel("sigma'")
    bottom.set_xlabel("layer index")
    bottom.legend(fontsize=8)
    top.set_title(f"{Path(analysis.source).name}: size-weighted fit across layers", fontsize=9)
    figure.tight_layout()
    written.append(_save(figure, directory / "summary.png"))
    plt.close(figure)
    return written


def _save(figure, path: Path) -> Path:
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    return path
