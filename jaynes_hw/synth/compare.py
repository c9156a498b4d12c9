"""The ``--compare`` build: one synthetic layer as a lognormal and as an int8 core, and the
ratios an FPGA engineer reads (area, area without the host link, Fmax, MAC/s per cell)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from jaynes_hw.contract.host_protocol import network_link_rate
from jaynes_hw.contract.layer_config import CORE_KINDS
from jaynes_hw.contract.manifest import chain_vector_period
from jaynes_hw.generate import BuiltLayer, LayerRequest, NetworkRequest, build_layers

DEFAULT_SHAPE = (64, 32)
DEFAULT_COMPARE_LANES = 4
DEFAULT_COMPARE_BITS = 4
COMPARE_SEED = 2310_06960  # the synthetic layer's weights (arXiv 2310.06960)


def synthetic_layer_file(shape: tuple[int, int], directory: Path) -> Path:
    """``directory/layer.npz`` with one tensor ``weight`` of ``shape`` (n_in, n_out): sign
    x LN(-3, 1) magnitudes drawn with ``COMPARE_SEED``; returns its path."""
    n_in, n_out = shape
    rng = np.random.default_rng(COMPARE_SEED)
    weights = rng.lognormal(-3.0, 1.0, size=(n_out, n_in)) * rng.choice([-1.0, 1.0], (n_out, n_in))
    source = directory / "layer.npz"
    np.savez(source, weight=weights)
    return source


def compare_layers(
    shape: tuple[int, int] = DEFAULT_SHAPE,
    lanes: int = DEFAULT_COMPARE_LANES,
    bits: int = DEFAULT_COMPARE_BITS,
    scheme: str = "lognormal",
) -> dict[str, list[BuiltLayer]]:
    """One synthetic layer of ``shape`` (n_in, n_out) built as a lognormal core (codebook
    ``scheme``, ``bits``-bit codes) and as an int8 core.

    Weights are drawn lognormal in magnitude with random signs (fixed seed), so both cores
    hold a realistic population; area depends on the shape and widths, not on the values.
    Returns {"lognormal": [BuiltLayer], "int8": [BuiltLayer]}.
    """
    with tempfile.TemporaryDirectory() as directory:
        source = synthetic_layer_file(shape, Path(directory))
        request = NetworkRequest(
            name="compare",
            layers=(LayerRequest("weight", lanes=lanes),),
            source=source,
            scheme=scheme,
            bits=bits,
        )
        return {core: build_layers(request, core) for core in CORE_KINDS}


def describe(layers: list[BuiltLayer], report: dict) -> dict:
    """A build's report with what was built: core kind, shape, lanes in all, layer configs,
    vectors/s at Fmax and (for a board build) at the PLL clock, through the host link
    (``network_link_rate``) and the lesser of the two: what the board delivers to its host."""
    first = layers[0].config
    n_in, n_out = layers[0].values_in, layers[-1].values_out  # an image for a convolution
    period = chain_vector_period(layers)
    macs = sum(layer.macs for layer in layers)
    fmax_hz = (report.get("fmax_mhz") or 0.0) * 1e6
    described = {
        "core": first.kind,
        "n_in": n_in,
        "n_out": n_out,
        "lanes": sum(layer.config.lanes for layer in layers),
        "layers": [layer.config.to_json() for layer in layers],
        "cycles_per_vector": period,
        "vectors_per_s": round(fmax_hz / period),
        "macs_per_s": round(fmax_hz * macs / period),
    }
    if "clock_mhz" in report:  # what the board runs at: the core at its clock, the link
        core_rate = report["clock_mhz"] * 1e6 / period
        link_rate = network_link_rate(layers, report["baud"])
        described |= {
            "core_vectors_per_s_at_clock": round(core_rate),
            "link_vectors_per_s": round(link_rate),
            "board_vectors_per_s": round(min(core_rate, link_rate)),
        }
    return described | report


def _ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def compare_reports(lognormal: dict, int8: dict, link: dict, area_field: str) -> dict:
    """Ratios lognormal / int8: area, area without the host link, Fmax, MAC/s per cell."""

    def derived(report):
        core_area = report[area_field] - link[area_field]
        return {
            f"core_{area_field}": core_area,
            f"core_{area_field}_per_lane": round(core_area / report["lanes"], 1),
            f"macs_per_s_per_{area_field[:-1]}": round(report["macs_per_s"] / report[area_field]),
            f"core_macs_per_s_per_{area_field[:-1]}": round(report["macs_per_s"] / core_area),
        }

    for report in (lognormal, int8):
        report.update(derived(report))
    fields = [
        area_field,
        f"core_{area_field}",
        f"core_{area_field}_per_lane",
        "ffs",
        "brams",
        "dsps",
        "fmax_mhz",
        f"macs_per_s_per_{area_field[:-1]}",
        f"core_macs_per_s_per_{area_field[:-1]}",
    ]
    return {field: _ratio(lognormal[field], int8[field]) for field in fields}
