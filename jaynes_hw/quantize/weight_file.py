"""Every layer of a weight file quantized, with the baselines measured side by side."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from jaynes_hw.analyze.file_analysis import SelectOptions, nothing_done_message, select_layers
from jaynes_hw.quantize.baselines import bits_per_weight
from jaynes_hw.quantize.layer import QuantizedLayer, as_matrix, quantize_layer, reconstruction
from jaynes_hw.quantize.schemes import HARDWARE_SCHEMES, check_scheme, default_format
from jaynes_hw.support.errors import UserError


def default_comparison(bits: int) -> list[str]:
    """Baselines compared by default: NF4 only exists at 4 bits, pow2 up to 6."""
    schemes = ["int", "nf4", "nf4-b64"] if bits == 4 else ["int"]
    return schemes + (["pow2"] if bits <= 6 else []) + ["lns"]


@dataclass
class QuantizeResult:
    """Quantized layers plus the per-layer signal and noise energy of every scheme."""

    source: str
    bits: int
    scheme: str
    schemes: list[str]
    options: dict
    layers: list[QuantizedLayer] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict:
        """Model SQNR per scheme (total signal over total noise), and the per-layer mean."""
        signal = sum(row["signal"] for row in self.rows)
        model, mean = {}, {}
        for scheme in self.schemes:
            noise = sum(row["noise"][scheme] for row in self.rows)
            model[scheme] = math.inf if noise == 0 else 10 * math.log10(signal / noise)
            mean[scheme] = float(np.mean([row["sqnr_db"][scheme] for row in self.rows]))
        return {
            "layers": len(self.rows),
            "weights": sum(row["count"] for row in self.rows),
            "sqnr_db": model,
            "mean_layer_sqnr_db": mean,
            "relative_mse": {s: 10 ** (-model[s] / 10) for s in self.schemes},
            "bits_per_weight": {
                s: bits_per_weight(s, self.bits)
                + (self._scale_bits_per_weight() if s in HARDWARE_SCHEMES else 0.0)
                for s in self.schemes
            },
        }

    def _scale_bits_per_weight(self) -> float:
        """The per-channel scales' storage spread over the weights: a ``scale_bits`` register
        (or a float32 with ``scale_bits`` 0) per output row; 0 without ``per_channel``."""
        if not self.options.get("per_channel"):
            return 0.0
        each = self.options.get("scale_bits") or 32
        return each * sum(row["rows"] for row in self.rows) / sum(r["count"] for r in self.rows)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "bits": self.bits,
            "scheme": self.scheme,
            "options": self.options,
            "layers": [
                {key: row[key] for key in ("name", "shape", "count", "sqnr_db", "relative_mse")}
                | {"codebook": layer.codebook.to_json(), "mu": layer.mu, "sigma": layer.sigma}
                for row, layer in zip(self.rows, self.layers, strict=True)
            ],
            "skipped": self.skipped,
            "summary": self.summary(),
        }


def quantize_file(
    path: str | os.PathLike[str],
    *,
    scheme: str = "lognormal",
    bits: int = 4,
    compare: list[str] | None = None,
    pruned: bool = False,
    per_channel: bool = False,
    scale_bits: int = 0,
    min_size: int = 10_000,
    layers: str | None = None,
    progress: bool | None = None,
) -> QuantizeResult:
    """Quantize every layer of a weight file with ``scheme`` and measure ``compare`` beside it.

    Raises ``UserError`` when no layer could be quantized (the reason of the first failure is
    in the message); layers that fail alone are listed in ``skipped``.
    """
    default_format(
        check_scheme(scheme), bits
    )  # refuse an impossible scheme/bits pair before any work
    schemes = [scheme] + [s for s in (compare or []) if s != scheme]
    select = SelectOptions(min_size=min_size, layers=layers)
    _, candidates, excluded = select_layers(path, select)
    if not 0 <= scale_bits <= 16:
        raise UserError(f"--scale-bits must be 0..16, not {scale_bits}")
    options = {"pruned": pruned, "per_channel": per_channel, "scale_bits": scale_bits}
    result = QuantizeResult(str(path), bits, scheme, schemes, options)
    show = sys.stderr.isatty() if progress is None else progress
    for tensor in tqdm(
        candidates, desc="quantize", unit="layer", disable=not show, file=sys.stderr
    ):
        try:
            if tensor.skip_reason is not None:
                raise UserError(tensor.skip_reason)
            weights = tensor.load()
            layer = quantize_layer(tensor.name, weights, scheme, bits, **options)
            matrix = as_matrix(weights)
            signal = float(np.sum(matrix**2))
            noise = {scheme: float(np.sum((matrix - layer.dequantize()) ** 2))}
            for other in schemes[1:]:
                rebuilt = reconstruction(
                    weights, other, bits, **(options if other in HARDWARE_SCHEMES else {})
                )
                noise[other] = float(np.sum((matrix - rebuilt) ** 2))
        except UserError as error:
            result.skipped.append({"name": tensor.name, "reason": str(error)})
            continue
        result.layers.append(layer)
        result.rows.append(
            {
                "name": tensor.name,
                "shape": list(tensor.shape),
                "count": int(matrix.size),
                "rows": int(matrix.shape[0]),
                "signal": signal,
                "noise": noise,
                "sqnr_db": {s: _db(signal, n) for s, n in noise.items()},
                "relative_mse": {s: n / signal for s, n in noise.items()},
            }
        )
    if not result.layers:
        raise UserError(nothing_done_message(path, result.skipped, excluded, select, "quantized"))
    return result


def _db(signal: float, noise: float) -> float:
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def format_table(result: QuantizeResult, name_width: int = 36) -> str:
    """SQNR (dB) per layer and scheme, then the model's, with bits per weight."""
    columns = "".join(f"{scheme:>10}" for scheme in result.schemes)
    header = f"{'layer':<{name_width}} {'weights':>10}{columns}"
    lines = [
        f"SQNR in dB at {result.bits} bits ({result.scheme} is stored)",
        header,
        "-" * len(header),
    ]
    for row in result.rows:
        name = row["name"]
        name = name if len(name) <= name_width else "…" + name[-name_width + 1 :]
        values = "".join(f"{row['sqnr_db'][s]:>10.2f}" for s in result.schemes)
        lines.append(f"{name:<{name_width}} {row['count']:>10}{values}")
    summary = result.summary()
    lines.append("-" * len(header))
    model = "".join(f"{summary['sqnr_db'][s]:>10.2f}" for s in result.schemes)
    lines.append(f"{'model':<{name_width}} {summary['weights']:>10}{model}")
    per_weight = "".join(f"{summary['bits_per_weight'][s]:>10.2f}" for s in result.schemes)
    lines.append(f"{'bits per weight':<{name_width}} {'':>10}{per_weight}")
    return "\n".join(lines)
