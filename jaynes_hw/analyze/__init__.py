"""Stage 1, analyze: how lognormal are a trained network's layers, really?

- ``histogram``: ``MagnitudeHistogram``, the exact 2^19-bin histogram of |w| in one pass;
- ``fit``: one layer's MLE, the paper's size-weighted fit with R^2, and the Gaussian /
  Student-t nulls with a verdict (``analyze_layer``, ``LayerAnalysis``, ``FitOptions``);
- ``file_analysis``: a weight file's layers, selected, skipped and summarised
  (``analyze_file``, ``FileAnalysis``, ``SelectOptions``);
- ``report``: the terminal table, CSV rows and PNG plots;
- ``command``: ``jaynes-hw analyze``.
"""

from jaynes_hw.analyze.file_analysis import FileAnalysis, SelectOptions, analyze_file
from jaynes_hw.analyze.fit import FitOptions, LayerAnalysis, analyze_layer, lognormal_mle
from jaynes_hw.analyze.histogram import MagnitudeHistogram

__all__ = [
    "FileAnalysis",
    "FitOptions",
    "LayerAnalysis",
    "MagnitudeHistogram",
    "SelectOptions",
    "analyze_file",
    "analyze_layer",
    "lognormal_mle",
]
