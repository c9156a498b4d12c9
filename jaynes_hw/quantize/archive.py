"""The quantized file: codes, codebooks and scales, the generator's input.

One ``.npz`` archive (no pickles), written atomically:

- ``meta.json``: a uint8 array holding UTF-8 JSON
  ``{"format": "jaynes-hw-quantized", "version": 1, "source", "bits", "scheme",
  "layers": [{"name", "shape", "n_out", "n_in", "codebook": {scheme, bits, mantissa_bits,
  exponent_bits, mantissas, exponents, levels, weight_scale}, "mu", "sigma", "pruned",
  "per_channel", "sqnr_db"}]}``
- ``layer{i}.codes``: uint8 (n_out, n_in), sign bit above the magnitude bin;
- ``layer{i}.channel_scales``: float64 (n_out,), only for per-channel layers.

A connection's real weight is ``sign * levels[bin] * weight_scale (* channel_scales[o])``.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.quantize.layer import QuantizedLayer
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import json_safe, save_npz

FORMAT_NAME = "jaynes-hw-quantized"
FORMAT_VERSION = 1


def save_quantized(
    path: str | os.PathLike[str],
    layers: list[QuantizedLayer],
    source: str = "",
    sqnr: dict[str, float] | None = None,
) -> None:
    """Write quantized layers to ``path`` atomically (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {}
    records = []
    for index, layer in enumerate(layers):
        arrays[f"layer{index}.codes"] = layer.codes
        if layer.channel_scales is not None:
            arrays[f"layer{index}.channel_scales"] = layer.channel_scales
        records.append(
            {
                "name": layer.name,
                "shape": list(layer.shape),
                "n_out": layer.n_out,
                "n_in": layer.n_in,
                "codebook": layer.codebook.to_json(),
                "mu": layer.mu,
                "sigma": layer.sigma,
                "pruned": layer.pruned,
                "per_channel": layer.channel_scales is not None,
                "sqnr_db": (sqnr or {}).get(layer.name),
            }
        )
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "source": source,
        "bits": layers[0].codebook.bits if layers else None,
        "scheme": layers[0].codebook.scheme if layers else None,
        "layers": records,
    }
    arrays["meta.json"] = np.frombuffer(json.dumps(json_safe(meta)).encode(), dtype=np.uint8)
    save_npz(path, arrays)


def load_quantized(path: str | os.PathLike[str]) -> tuple[dict, list[QuantizedLayer]]:
    """Read a quantized file: ``(meta, layers)``. Raises ``UserError`` on a bad file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["meta.json"]).decode())
            if meta.get("format") != FORMAT_NAME:
                raise UserError(f"{path}: not a jaynes-hw quantized file")
            if meta.get("version") != FORMAT_VERSION:
                raise UserError(f"{path}: unsupported version {meta.get('version')}")
            layers = [_layer(archive, index, record) for index, record in enumerate(meta["layers"])]
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"{path}: not a valid jaynes-hw quantized file ({error})") from None
    return meta, layers


def _layer(archive, index: int, record: dict) -> QuantizedLayer:
    codebook = Codebook.from_json(record["codebook"])
    codes = np.asarray(archive[f"layer{index}.codes"])
    if codes.dtype != np.uint8 or codes.shape != (record["n_out"], record["n_in"]):
        raise ValueError(f"layer {record['name']!r}: codes of the wrong type or shape")
    if codes.size and int(codes.max()) >= 1 << codebook.bits:
        raise UserError(
            f"layer {record['name']!r}: codes do not match a {codebook.bits}-bit codebook"
        )
    scales_key = f"layer{index}.channel_scales"
    scales = np.asarray(archive[scales_key]) if record.get("per_channel") else None
    return QuantizedLayer(
        record["name"],
        tuple(record["shape"]),
        codes,
        codebook,
        scales,
        float(record["mu"]),
        float(record["sigma"]),
        bool(record.get("pruned", False)),
    )
