"""The cores placed and routed, in one run: what an FPGA engineer compares.

Two sections (``--sections``), every build with the project's own yosys/nextpnr flow
(``jaynes_hw.synth.synthesize``) behind the board's host link, each placed with nextpnr
seeds 1..``--seeds``; a build's Fmax is the **median** over its seeds (the best seed is
reported beside it), so no kind wins by seed hunting.

``layer``: each core kind of a 64 x 64 layer (synthetic sign x LN(-3, 1) weights) at each
lane count, on each board. Kinds: ``lognormal_shared`` and ``lognormal_per_lane`` (4-bit
codes, m6e2 levels, the two datapaths), ``pow2`` (4-bit codes, power-of-two levels) and
``int8`` (8-bit weights). One JSON line per build:

- ``area`` (iCE40 logic cells / ECP5 LUT4s), ``ffs``, ``brams``, ``dsps``, ``fmax_mhz``
  (median), ``fmax_best_mhz``;
- ``core_area``: the area less the host link alone (built in the same run);
- ``lc_equivalent``: ``area`` + ``dsps`` x the price of a DSP, priced at the logic the same
  kind's multipliers take without DSP blocks (the kind's first DSP build repeated with
  ``--no-dsp``: extra area / DSPs saved);
- ``cycles_per_vector``, ``macs_per_s`` (n_in x n_out x Fmax / cycles), ``macs_per_s_per_lce``;
- ``weight_bits`` per connection;

then one ``fit`` line per kind and board: the per-lane slope and the shared intercept of
``lc_equivalent`` against lanes (least squares over the builds that fit), and the largest
build that fits with its MAC/s. With ``--plot FILE`` (extra ``plots``) a PNG of MAC/s
against LC-equivalent for each kind and board.

``digits``: the built-in digits network (64-32-10) on the iCE40 UP5K, each kind at the
fastest configuration that fits. Kinds: ``int8``, ``lognormal`` (m6e2 levels in both
layers), ``pow2`` (power-of-two levels in both) and ``lognormal_pow2`` (m6e2 in the first
layer, powers of two in the second). For each kind, lane pairs from the fastest vector
period down are built until one fits, and one more; multipliers go to the DSP blocks when
the design needs no more than the device has, else to LUTs. One JSON line per build
(``inferences_per_s`` = median Fmax / cycles per inference, and the test accuracy of the
network through the bit-exact reference), then the best build of each kind and the ratio of
the best lognormal-coded build to the best int8 build.

    python bench/bench_hardware.py [--sections layer digits] [--boards icebreaker ulx3s]
                                   [--lanes 4 8 16 24 32] [--kinds ...] [--seeds 3]
                                   [--plot hardware.png]

A build that does not fit the device is reported with its reason, not dropped. About one
to three minutes per build on one core (a full run: about two hours).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from jaynes_hw.boards.definitions import board_named
from jaynes_hw.generate import LayerRequest, NetworkRequest, build_layers, render
from jaynes_hw.generate.config import default_request
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
# digits kind: (core, scheme of each layer)
DIGITS_KINDS = {
    "int8": ("int8", ("lognormal", "lognormal")),
    "lognormal": ("lognormal", ("lognormal", "lognormal")),
    "pow2": ("lognormal", ("pow2", "pow2")),
    "lognormal_pow2": ("lognormal", ("lognormal", "pow2")),
}
# lanes of the digits network's first layer, fastest first (each the fewest lanes for its
# number of passes: 1, 2, 3, 4, 5, 6, 8)
DIGITS_FIRST_LANES = (32, 16, 11, 8, 7, 6, 4)


def built_files(name: str, layers, directory: Path) -> Path:
    """Write the generator's files of ``layers`` into ``directory``; return the manifest."""
    written = write_text_files(directory / "rtl", render(name, layers, {"bench": name}))
    return next(path for path in written if path.suffix == ".json")


def placed(board: str, manifest: Path, directory: Path, seeds: int, dsp: bool) -> dict:
    """One placed-and-routed build: figures with the median and best Fmax over ``seeds``;
    ``fits`` False with the reason when it does not."""
    try:
        report = synthesize(board, manifest, directory, seeds=tuple(range(1, seeds + 1)), dsp=dsp)
    except UserError as error:
        return {"fits": False, "reason": str(error)}
    fmaxes = [fmax for fmax in report["fmax_by_seed"].values() if fmax is not None]
    return {
        "fits": True,
        "area": report[area_field(board_named(board))],
        "ffs": report["ffs"],
        "brams": report["brams"],
        "dsps": report["dsps"],
        "fmax_mhz": round(statistics.median(fmaxes), 2),
        "fmax_best_mhz": max(fmaxes),
        "seconds": report["seconds"],
    }


# --- the 64 x 64 layer ----------------------------------------------------------------------


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
    return built_files("bench", layers, directory), layers[0].config


def build(board: str, kind: str, lanes: int, seeds: int, dsp: bool = True) -> dict:
    """One 64 x 64 layer build (see ``placed``)."""
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
        return row | placed(board, manifest, Path(directory) / "build", seeds, dsp)


def link_area(board: str) -> int:
    with tempfile.TemporaryDirectory() as directory:
        report = synthesize(board, None, Path(directory))
    return report[area_field(board_named(board))]


def dsp_price(board: str, kind: str, lanes: int, with_dsp: dict, seeds: int) -> float | None:
    """Logic per DSP block: the kind's build again without DSPs, extra area / DSPs saved."""
    if not with_dsp.get("fits") or not with_dsp["dsps"]:
        return None
    without = build(board, kind, lanes, seeds, dsp=False)
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


def layer_section(boards, kinds, lane_counts, seeds) -> list[dict]:
    rows = []
    for board in boards:
        link = link_area(board)
        print(json.dumps({"record": "link", "board": board, "area": link}), flush=True)
        for kind in kinds:
            built = [build(board, kind, lanes, seeds) for lanes in lane_counts]
            price = next(
                (
                    dsp_price(board, kind, row["lanes"], row, seeds)
                    for row in built
                    if row.get("dsps")
                ),
                None,
            )
            kind_rows = [derived(row, link, price) for row in built]
            for row in kind_rows:
                print(json.dumps(row), flush=True)
            print(json.dumps(fit(kind_rows)), flush=True)
            rows += kind_rows
    return rows


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


# --- the digits network ----------------------------------------------------------------------


def digits_request(kind: str, first_lanes: int) -> NetworkRequest:
    """The default network with ``first_lanes`` lanes in layer 0 and the fewest lanes that
    keep layer 1 no slower, each layer with its kind's level scheme."""
    request = default_request()
    _, schemes = DIGITS_KINDS[kind]
    first, second = request.layers
    probe = replace(request, layers=(replace(first, lanes=first_lanes), second))
    layers = build_layers(probe, "int8")  # only the shapes matter here
    period = layers[0].config.cycles_per_vector
    second_config = layers[1].config
    second_lanes = next(
        lanes
        for lanes in range(1, second_config.n_out + 1)
        if replace(second_config, lanes=lanes).cycles_per_vector <= period
    )
    return replace(
        request,
        layers=(
            replace(first, lanes=first_lanes, scheme=schemes[0]),
            replace(second, lanes=second_lanes, scheme=schemes[1]),
        ),
    )


def multipliers(layers) -> int:
    """Multipliers the network's cores need: a lane each (int8, per_lane levels with a
    mantissa), K for a shared datapath, none for powers of two."""
    count = 0
    for layer in layers:
        config = layer.config
        if config.kind == "int8" or (config.mantissa_bits > 1 and config.datapath == "per_lane"):
            count += config.lanes
        elif config.datapath == "shared" and config.mantissa_bits > 1:
            count += config.codebook_size
    return count


def digits_build(kind: str, first_lanes: int, seeds: int, test_split) -> dict:
    from jaynes_hw.demo.command import reference_accuracy

    core, _ = DIGITS_KINDS[kind]
    request = digits_request(kind, first_lanes)
    layers = build_layers(request, core)
    board = board_named("icebreaker")
    dsp = multipliers(layers) <= board.dsps
    period = max(layer.config.cycles_per_vector for layer in layers)
    inputs, labels = test_split
    row = {
        "record": "digits",
        "board": board.name,
        "kind": kind,
        "lanes": [layer.config.lanes for layer in layers],
        "datapaths": [layer.config.datapath for layer in layers],
        "levels": [
            f"m{c.mantissa_bits}e{c.exponent_bits}" if c.kind == "lognormal" else "int8"
            for c in (layer.config for layer in layers)
        ],
        "dsp_mapping": dsp,
        "cycles_per_inference": period,
        "weight_bits": [layer.config.code_bits for layer in layers],
        "accuracy": round(reference_accuracy(request, core, inputs, labels), 4),
    }
    with tempfile.TemporaryDirectory() as directory:
        manifest = built_files("digits", layers, Path(directory))
        row |= placed(board.name, manifest, Path(directory) / "build", seeds, dsp)
    if row["fits"]:
        row["inferences_per_s"] = round(row["fmax_mhz"] * 1e6 / period)
        row["inferences_per_s_best_seed"] = round(row["fmax_best_mhz"] * 1e6 / period)
    return row


def digits_section(kinds, seeds) -> list[dict]:
    from jaynes_hw.demo.digits import integer_inputs, load_digits_split

    split = load_digits_split()
    test_split = (integer_inputs(split.x_test), split.y_test)
    best = {}
    for kind in kinds:
        fitted = 0
        for first_lanes in DIGITS_FIRST_LANES:
            row = digits_build(kind, first_lanes, seeds, test_split)
            print(json.dumps(row), flush=True)
            if row["fits"]:
                fitted += 1
                if kind not in best or row["inferences_per_s"] > best[kind]["inferences_per_s"]:
                    best[kind] = row
            if fitted == 2:
                break
    for row in best.values():
        print(json.dumps(row | {"record": "digits_best"}), flush=True)
    if "int8" in best and len(best) > 1:
        int8 = best["int8"]["inferences_per_s"]
        coded = max((row for kind, row in best.items() if kind != "int8"),
                    key=lambda row: row["inferences_per_s"])  # fmt: skip
        print(
            json.dumps(
                {
                    "record": "digits_ratio",
                    "best_lognormal_coded": coded["kind"],
                    "inferences_per_s": coded["inferences_per_s"],
                    "int8_inferences_per_s": int8,
                    "ratio": round(coded["inferences_per_s"] / int8, 3),
                }
            ),
            flush=True,
        )
    return list(best.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+", choices=("layer", "digits"),
                        default=["layer", "digits"])  # fmt: skip
    parser.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"])
    parser.add_argument("--lanes", nargs="+", type=int, default=[4, 8, 16, 24, 32])
    parser.add_argument("--kinds", nargs="+", choices=tuple(KINDS), default=list(KINDS))
    parser.add_argument("--digits-kinds", nargs="+", choices=tuple(DIGITS_KINDS),
                        default=list(DIGITS_KINDS))  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="nextpnr seeds per build (3)")
    parser.add_argument("--plot", type=Path, help="PNG of MAC/s against LC-equivalent")
    args = parser.parse_args(argv)
    if "layer" in args.sections:
        rows = layer_section(args.boards, args.kinds, args.lanes, args.seeds)
        if args.plot:
            plot(rows, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
    if "digits" in args.sections:
        digits_section(args.digits_kinds, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
