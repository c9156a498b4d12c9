"""Each core kind at each lane count, placed and routed, in one run: what an FPGA engineer
compares.

Kinds: ``lognormal_shared`` and ``lognormal_per_lane`` (4-bit codes, m6e2 levels, the two
datapaths), ``pow2`` (4-bit codes, power-of-two levels) and ``int8`` (8-bit weights), each
a 64 x 64 layer (synthetic sign x LN(-3, 1) weights) behind the board's host link, built
with the project's own yosys/nextpnr flow (``jaynes_hw.synth.synthesize``). One JSON line
per build:

- ``area`` (iCE40 logic cells / ECP5 LUT4s), ``ffs``, ``brams``, ``dsps``, ``fmax_mhz``;
- ``core_area``: the area less the host link alone (built in the same run);
- ``lc_equivalent``: ``area`` + ``dsps`` x the price of a DSP, priced at the logic the same
  kind's multipliers take without DSP blocks (the kind's 4-lane build repeated with
  ``--no-dsp``: extra area / DSPs saved);
- ``cycles_per_vector``, ``macs_per_s`` (n_in x n_out x Fmax / cycles), ``macs_per_s_per_lce``;
- ``weight_bits`` per connection;

then one ``fit`` line per kind and board: the per-lane slope and the shared intercept of
``lc_equivalent`` against lanes (least squares over the builds that fit), and the largest
build that fits with its MAC/s. With ``--plot FILE`` (extra ``plots``) a PNG of MAC/s
against LC-equivalent for each kind.

    python bench/bench_hardware.py [--boards icebreaker ulx3s] [--lanes 4 8 16 24 32]
                                   [--kinds ...] [--plot hardware.png]

A build that does not fit the device is reported with its reason, not dropped. About one
to three minutes per build on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from jaynes_hw.boards.definitions import board_named
from jaynes_hw.generate import LayerRequest, NetworkRequest, build_layers, render
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.extras import require_extra
from jaynes_hw.support.files import write_text_files
from jaynes_hw.synth import synthesize
from jaynes_hw.synth.reports import area_field

SHAPE = (64, 64)
SEED = 2310_06960
# kind: (core, scheme, datapath)
KINDS = {
    "lognormal_shared": ("lognormal", "lognormal", "shared"),
    "lognormal_per_lane": ("lognormal", "lognormal", "per_lane"),
    "pow2": ("lognormal", "pow2", "per_lane"),
    "int8": ("int8", "lognormal", "per_lane"),
}


def layer_built(kind: str, lanes: int, directory: Path):
    """The generator's files of a 64 x 64 layer of ``kind`` with ``lanes`` lanes; returns
    (manifest path, LayerConfig)."""
    core, scheme, datapath = KINDS[kind]
    n_in, n_out = SHAPE
    rng = np.random.default_rng(SEED)
    weights = rng.lognormal(-3.0, 1.0, (n_out, n_in)) * rng.choice([-1.0, 1.0], (n_out, n_in))
    source = directory / "layer.npz"
    np.savez(source, weight=weights)
    request = NetworkRequest(
        name="bench",
        layers=(LayerRequest("weight", lanes=lanes, relu=True),),
        source=source,
        scheme=scheme,
        datapath=datapath,
    )
    layers = build_layers(request, core)
    written = write_text_files(directory / "rtl", render("bench", layers, {"bench": kind}))
    manifest = next(path for path in written if path.suffix == ".json")
    return manifest, layers[0].config


def build(board: str, kind: str, lanes: int, dsp: bool = True) -> dict:
    """One placed-and-routed build; ``fits`` False with the reason when it does not."""
    with tempfile.TemporaryDirectory() as directory:
        manifest, config = layer_built(kind, lanes, Path(directory))
        row = {
            "board": board,
            "kind": kind,
            "lanes": lanes,
            "dsp_mapping": dsp,
            "datapath": config.datapath,
            "weight_bits": config.code_bits,
            "cycles_per_vector": config.cycles_per_vector,
        }
        try:
            report = synthesize(board, manifest, Path(directory) / "build", dsp=dsp)
        except UserError as error:
            return row | {"fits": False, "reason": str(error)}
    area = report[area_field(board_named(board))]
    return row | {
        "fits": True,
        "area": area,
        "ffs": report["ffs"],
        "brams": report["brams"],
        "dsps": report["dsps"],
        "fmax_mhz": report["fmax_mhz"],
        "seconds": report["seconds"],
    }


def link_area(board: str) -> int:
    with tempfile.TemporaryDirectory() as directory:
        report = synthesize(board, None, Path(directory))
    return report[area_field(board_named(board))]


def dsp_price(board: str, kind: str, lanes: int, with_dsp: dict) -> float | None:
    """Logic per DSP block: the kind's build again without DSPs, extra area / DSPs saved."""
    if not with_dsp.get("fits") or not with_dsp["dsps"]:
        return None
    without = build(board, kind, lanes, dsp=False)
    print(json.dumps(without | {"record": "dsp_price_build"}), flush=True)
    if not without.get("fits"):
        return None
    return round((without["area"] - with_dsp["area"]) / with_dsp["dsps"], 1)


def derived(row: dict, link: int, price: float | None) -> dict:
    if not row.get("fits"):
        return row
    n_in, n_out = SHAPE
    lce = row["area"] + row["dsps"] * (price or 0.0)
    macs = n_in * n_out * row["fmax_mhz"] * 1e6 / row["cycles_per_vector"]
    return row | {
        "core_area": row["area"] - link,
        "dsp_price": price,
        "lc_equivalent": round(lce, 1),
        "macs_per_s": round(macs),
        "macs_per_s_per_lce": round(macs / lce),
    }


def fit(rows: list[dict]) -> dict:
    """Slope (per lane) and intercept of lc_equivalent against lanes; the largest fit."""
    fitted = [row for row in rows if row.get("fits")]
    result = {"record": "fit", "board": rows[0]["board"], "kind": rows[0]["kind"]}
    if len(fitted) >= 2:
        slope, intercept = np.polyfit(
            [row["lanes"] for row in fitted], [row["lc_equivalent"] for row in fitted], 1
        )
        result |= {"lce_per_lane": round(float(slope), 1), "lce_intercept": round(intercept)}
    if fitted:
        best = max(fitted, key=lambda row: row["macs_per_s"])
        result |= {"best_lanes": best["lanes"], "best_macs_per_s": best["macs_per_s"]}
    return result


def plot(rows: list[dict], path: Path) -> None:
    require_extra("matplotlib", "plots", "drawing the plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boards = sorted({row["board"] for row in rows})
    figure, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4.5), squeeze=False)
    for axis, board in zip(axes[0], boards, strict=True):
        for kind in KINDS:
            points = [r for r in rows if r["board"] == board and r["kind"] == kind and r["fits"]]
            if points:
                axis.plot(
                    [r["lc_equivalent"] for r in points],
                    [r["macs_per_s"] / 1e6 for r in points],
                    "o-",
                    label=kind,
                )
                for r in points:
                    axis.annotate(str(r["lanes"]), (r["lc_equivalent"], r["macs_per_s"] / 1e6))
        axis.set(title=f"64x64 layer, {board}", xlabel="LC-equivalent", ylabel="MMAC/s")
        axis.grid(True)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"])
    parser.add_argument("--lanes", nargs="+", type=int, default=[4, 8, 16, 24, 32])
    parser.add_argument("--kinds", nargs="+", choices=tuple(KINDS), default=list(KINDS))
    parser.add_argument("--plot", type=Path, help="PNG of MAC/s against LC-equivalent")
    args = parser.parse_args(argv)
    rows = []
    for board in args.boards:
        link = link_area(board)
        print(json.dumps({"record": "link", "board": board, "area": link}), flush=True)
        for kind in args.kinds:
            built = [build(board, kind, lanes) for lanes in args.lanes]
            price = next(
                (dsp_price(board, kind, row["lanes"], row) for row in built if row.get("dsps")),
                None,
            )
            kind_rows = [derived(row, link, price) for row in built]
            for row in kind_rows:
                print(json.dumps(row), flush=True)
            print(json.dumps(fit(kind_rows)), flush=True)
            rows += kind_rows
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
