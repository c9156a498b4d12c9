"""Stage 1, analyze: how lognormal are a trained network's layers, really?

- ``histogram``: ``MagnitudeHistogram``, the exact 2^19-bin histogram of |w| in one pass;
- ``fit``: one layer's MLE, the paper's size-weighted fit with R^2, and the Gaussian /
  Student-t nulls with a verdict (``analyze_layer``, ``LayerAnalysis``, ``FitOptions``);
- ``file_analysis``: weight files' layers, selected, skipped and summarised, as tasks in
  this process or on Dask workers (``analyze_files``, ``analyze_file``, ``FileAnalysis``,
  ``SelectOptions``);
- ``activations``: the same fits on each layer's positive outputs, of an ONNX model or a
  generated design (``analyze_activations``);
- ``report``: the terminal table, CSV rows and PNG plots;
- ``command``: ``jaynes-hw analyze``.
"""

from jaynes_hw.analyze.file_analysis import (
    FileAnalysis,
    SelectOptions,
    analyze_file,
    analyze_files,
)
from jaynes_hw.analyze.fit import FitOptions, LayerAnalysis, analyze_layer, lognormal_mle
from jaynes_hw.analyze.histogram import MagnitudeHistogram

__all__ = [
    "FileAnalysis",
    "FitOptions",
    "LayerAnalysis",
    "MagnitudeHistogram",
    "SelectOptions",
    "analyze_file",
    "analyze_files",
    "analyze_layer",
    "lognormal_mle",
]
