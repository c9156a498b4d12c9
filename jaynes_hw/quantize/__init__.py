"""Stage 2, quantize: each layer into codes (sign + rank bin) and a tunable codebook.

- ``schemes``: the scheme names, ``check_scheme`` and each scheme's register format;
- ``levels``: minimum-error levels over a layer's magnitudes (Lloyd-Max, scale searches),
  ``lognormal_bin_means``;
- ``baselines``: NF4 and NF4 per block of 64, float-only comparisons;
- ``layer``: ``quantize_layer`` -> ``QuantizedLayer``; ``retune`` and ``refit``;
- ``weight_file``: every layer of a weight file, the baselines beside (``quantize_file``);
- ``archive``: the quantized file (``save_quantized`` / ``load_quantized``), the generator's
  input;
- ``tune``: ``fit_codebooks``, a generated design's levels fitted to a task, codes frozen;
- ``command``: ``jaynes-hw quantize``.
"""

from jaynes_hw.quantize.archive import load_quantized, save_quantized
from jaynes_hw.quantize.layer import (
    QuantizedLayer,
    as_matrix,
    quantize_layer,
    reconstruction,
    refit,
    retune,
    sqnr_db,
)
from jaynes_hw.quantize.levels import WeightedMagnitudes, lloyd_max, lognormal_bin_means
from jaynes_hw.quantize.schemes import (
    ALL_SCHEMES,
    BASELINE_SCHEMES,
    HARDWARE_SCHEMES,
    check_scheme,
    default_format,
)
from jaynes_hw.quantize.tune import TuneResult, accuracy, fit_codebooks
from jaynes_hw.quantize.weight_file import QuantizeResult, quantize_file

__all__ = [
    "ALL_SCHEMES",
    "BASELINE_SCHEMES",
    "HARDWARE_SCHEMES",
    "QuantizeResult",
    "QuantizedLayer",
    "TuneResult",
    "WeightedMagnitudes",
    "accuracy",
    "as_matrix",
    "check_scheme",
    "default_format",
    "fit_codebooks",
    "lloyd_max",
    "load_quantized",
    "lognormal_bin_means",
    "quantize_file",
    "quantize_layer",
    "reconstruction",
    "refit",
    "retune",
    "save_quantized",
    "sqnr_db",
]
