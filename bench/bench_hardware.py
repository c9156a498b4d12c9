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
build that fits with its MAC/s. A build refused for needing more DSP blocks than the device
has is built again with LUT multipliers (``record`` ``lut_multipliers``; not in the fit or the
plot). With ``--plot FILE`` (extra ``plots``) a PNG of MAC/s
against LC-equivalent for each kind and board.

``digits``: the built-in digits network (64-32-10) on the iCE40 UP5K, each kind at the
fastest configuration that fits. Kinds: ``int8``, ``lognormal`` (m6e2 levels in both
layers), ``pow2`` (power-of-two levels in both) and ``lognormal_pow2`` (m6e2 in the first
layer, powers of two in the second). For each kind, lane pairs from the fastest vector
period down are built (``digits_candidates``): layer 1 gets the fewest lanes that keep it no
slower, and where that needs more multipliers than the UP5K's 8 DSP blocks, the pair is
also built with layer 1 cut to the lanes that leave every multiplier a DSP. Multipliers go
to the DSP blocks when the design needs no more than the device has, else to LUTs; the
search stops after two fitting builds of each mapping. One JSON line per build
(``inferences_per_s`` = median Fmax / cycles per inference, and the test accuracy of the
network through the bit-exact reference), then the best build of each kind and the ratio of
the best lognormal-coded build to the best int8 build.

``spram``: a 256 x 256 layer on the UP5K with its codes in the four SPRAM blocks
(``spram_section``): each kind at the lanes SPRAM's 64 bits a cycle feed, and the ratio of
the lognormal-coded kinds' MAC/s to int8's.

``peer``: da4ml (extra ``peers``), the fully unrolled, pipelined peer whose constant weights
become adder graphs, builds the same digits network with the int8 core's weights, shifts and
biases (checked bit for bit against the integer reference on the test split). The same
Yosys synthesizes it; on the ECP5-85F nextpnr places and routes it out of context (its
ports are hundreds of bits wide, no board top), giving up after ``--route-timeout`` seconds
with the placement's estimate (``fmax_placed_mhz``) as the figure; the UP5K has no
out-of-context mode, so there the line gives Yosys's logic count against the device's
5,280 cells. Its weights are baked into the logic: ``tunable`` is false. One inference per
clock. With ``unrolled`` in the same run, an ``unrolled_vs_da4ml`` line per unrolled digits
build: inferences/s per kLUT against da4ml's after routing, and at placement (``stage``).

    python bench/bench_hardware.py [--sections layer digits peer] [--boards icebreaker ulx3s]
                                   [--lanes 4 8 16 24 32] [--kinds ...] [--seeds 3]
                                   [--route-timeout 3600] [--timing-ripup] [--floorplan]
                                   [--plot hardware.png]

A build that does not fit the device is reported with its reason, not dropped. About one
to three minutes per build on one core (a full run: about two hours).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jaynes_hw.boards.definitions import board_named
from jaynes_hw.contract.layer_config import network_vector_period
from jaynes_hw.generate import LayerRequest, NetworkRequest, build_layers, render
from jaynes_hw.generate.config import default_request
from jaynes_hw.support.errors import UserError, run_reporting_errors
from jaynes_hw.support.extras import require_extra
from jaynes_hw.support.files import write_text_files
from jaynes_hw.synth import synthesize
from jaynes_hw.synth.compare import synthetic_layer_file
from jaynes_hw.synth.reports import area_field

SHAPE = (64, 64)
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
    """One placed-and-routed build at the board's first-build clock (Fmax is what is
    compared: no clock search): figures with the median and best Fmax over ``seeds``;
    ``fits`` False with the reason when it does not."""
    clock_mhz = board_named(board).fmax_target_mhz
    seeds = tuple(range(1, seeds + 1))
    try:
        report = synthesize(board, manifest, directory, clock_mhz=clock_mhz, seeds=seeds, dsp=dsp)
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
        "limited_by": report.get("limited_by"),  # of the fastest seed's build
        "seconds": report["seconds"],
    }


# --- the 64 x 64 layer ----------------------------------------------------------------------


def layer_built(
    kind: str,
    lanes: int,
    directory: Path,
    shape: tuple[int, int] = SHAPE,
    code_memory: str = "block",
):
    """The generator's files of a ``shape`` (n_in, n_out) layer of ``kind`` with ``lanes``
    lanes, its codes in ``code_memory``; returns (manifest path, LayerConfig)."""
    core, scheme, datapath = KINDS[kind]
    source = synthetic_layer_file(shape, directory)
    request = NetworkRequest(
        name="bench",
        layers=(LayerRequest("weight", lanes=lanes, relu=True, code_memory=code_memory),),
        source=source,
        scheme=scheme,
        datapath=datapath,
    )
    layers = build_layers(request, core)
    return built_files("bench", layers, directory), layers[0].config


def build(
    board: str,
    kind: str,
    lanes: int,
    seeds: int,
    dsp: bool = True,
    shape=SHAPE,
    code_memory: str = "block",
) -> dict:
    """One layer build, 64 x 64 unless ``shape`` says (see ``placed``)."""
    with tempfile.TemporaryDirectory() as directory:
        manifest, config = layer_built(kind, lanes, Path(directory), shape, code_memory)
        row = {
            "board": board,
            "kind": kind,
            "lanes": lanes,
            "shape": list(shape),
            "code_memory": code_memory,
            "spram_blocks": config.spram_blocks,
            "dsp_mapping": dsp,
            "datapath": config.datapath,
            "weight_bits": config.code_bits,
            "cycles_per_vector": config.cycles_per_vector,
        }
        return row | placed(board, manifest, Path(directory) / "build", seeds, dsp)


def link_area(board: str) -> int:
    with tempfile.TemporaryDirectory() as directory:
        report = synthesize(
            board, None, Path(directory), clock_mhz=board_named(board).fmax_target_mhz
        )
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
            for row in built:  # more multipliers than DSP blocks: the same core on LUTs
                if not row["fits"] and "DSP blocks" in row["reason"]:
                    lut_row = build(board, kind, row["lanes"], seeds, dsp=False)
                    lut_row = derived(lut_row, link, None) | {"record": "lut_multipliers"}
                    print(json.dumps(lut_row), flush=True)
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


def digits_request(kind: str, first_lanes: int, second_lanes: int | None = None) -> NetworkRequest:
    """The default network with ``first_lanes`` lanes in layer 0 and ``second_lanes`` in
    layer 1 (default: the fewest that keep layer 1 no slower), each layer with its kind's
    level scheme."""
    request = default_request()
    _, schemes = DIGITS_KINDS[kind]
    first, second = request.layers
    if second_lanes is None:
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


def digits_candidates(kind: str) -> list[tuple[int, int | None]]:
    """(first lanes, second lanes or None for the default) to build, fastest period first:
    each of ``DIGITS_FIRST_LANES`` as it comes and, where its multipliers outnumber the
    DSP blocks, also with layer 1 cut to the lanes that let every multiplier have a DSP
    (slower layer 1, faster clock), if any."""
    core, _ = DIGITS_KINDS[kind]
    dsps = board_named("icebreaker").dsps
    found = []
    for first_lanes in DIGITS_FIRST_LANES:
        found.append((first_lanes, None))
        layers = build_layers(digits_request(kind, first_lanes), core)
        if multipliers(layers) > dsps:
            first_only = multipliers(layers[:1])
            per_lane = multipliers(layers[1:]) // layers[1].config.lanes
            if per_lane and first_only < dsps:
                found.append((first_lanes, (dsps - first_only) // per_lane))
    return found


def digits_build(
    kind: str, first_lanes: int, seeds: int, test_split, second_lanes: int | None = None
) -> dict:
    from jaynes_hw.demo.command import reference_accuracy

    core, _ = DIGITS_KINDS[kind]
    request = digits_request(kind, first_lanes, second_lanes)
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
        fitted = {True: 0, False: 0}  # builds that fit, with and without DSP mapping
        core, _ = DIGITS_KINDS[kind]
        dsps = board_named("icebreaker").dsps
        for first_lanes, second_lanes in digits_candidates(kind):
            layers = build_layers(digits_request(kind, first_lanes, second_lanes), core)
            if fitted[multipliers(layers) <= dsps] == 2:
                continue  # two fits of this mapping already: slower periods cannot win
            row = digits_build(kind, first_lanes, seeds, test_split, second_lanes)
            print(json.dumps(row), flush=True)
            if row["fits"]:
                fitted[row["dsp_mapping"]] += 1
                if kind not in best or row["inferences_per_s"] > best[kind]["inferences_per_s"]:
                    best[kind] = row
            if all(count == 2 for count in fitted.values()):
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


# --- the da4ml peer ------------------------------------------------------------------------

DA4ML_LATENCY_CUTOFF = 4  # adder depth per pipeline stage (da4ml's unit)
# router1 needs hours for the peer's ~130,000 arcs on the ECP5; router2 did not finish it in
# an hour (the placement's estimate is reported then: ``placement_figures``)
ROUTE_TIMEOUT_S = 3600


@dataclass(frozen=True)
class RouteOptions:
    """How nextpnr-ecp5 routes an out-of-context build: it gives up after ``timeout_s``;
    with ``timing_ripup`` router2 also rips up and reroutes the arcs that fail timing
    (nextpnr's ``--tmg-ripup``: many more iterations while any arc fails, so a design
    short of the clock takes much longer); with ``floorplan`` each group of an unrolled
    layer's outputs is placed in a region of its own (``jaynes_hw.synth.floorplan``; needs
    a nextpnr built with Python, such as Debian's, as ``NEXTPNR_ECP5``)."""

    timeout_s: int = ROUTE_TIMEOUT_S
    timing_ripup: bool = False
    floorplan: bool = False

    def nextpnr_options(self) -> list[str]:
        return ["--tmg-ripup"] if self.timing_ripup else []


def da4ml_digits(directory: Path, test_split) -> list[str]:
    """The int8 digits network traced with da4ml and written as Verilog into ``directory``;
    returns the source files (relative). Raises ``AssertionError`` if da4ml's model of it
    is not bit-exact with the integer reference on the test split."""
    require_extra("da4ml", "peers", "the da4ml peer")
    from da4ml.codegen import VerilogModel
    from da4ml.trace import FixedVariableArrayInput, comb_trace
    from da4ml.trace.ops import quantize, relu

    from jaynes_hw.contract.codebook import signed_levels
    from jaynes_hw.contract.reference import reference_layer

    layers = build_layers(default_request(), "int8")
    inputs = FixedVariableArrayInput(layers[0].config.n_in)
    values = quantize(inputs, 1, layers[0].config.act_bits - 1, 0)
    for layer in layers:
        weights = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        total = values @ weights.T.astype(np.float64)
        if layer.bias is not None:
            total = total + layer.bias.astype(np.float64)
        # rshift_round and saturation: round half up (RND), saturate (SAT), then ReLU
        scaled = quantize(total * 2.0**-layer.shift, 1, layer.config.out_bits - 1, 0, "SAT", "RND")
        values = relu(scaled) if layer.config.relu else scaled
    logic = comb_trace(inputs, values)
    x, _ = test_split
    expected = x
    for layer in layers:
        levels = signed_levels(layer.quantized.codes, layer.quantized.codebook)
        expected = reference_layer(
            layer.config.arithmetic(layer.shift), levels, expected, layer.bias
        )
    got = np.asarray(logic.predict(x.astype(np.float64)))
    assert np.array_equal(got.astype(np.int64), expected), "da4ml's network is not bit-exact"
    VerilogModel(
        logic, "digits_da4ml", directory, latency_cutoff=DA4ML_LATENCY_CUTOFF, print_latency=False
    ).write()
    sources = sorted(directory.glob("src/digits_da4ml*.v")) + sorted(
        path for path in directory.glob("src/static/*.v") if path.name != "lookup_table.v"
    )  # no lookup tables in a network of adders; that module needs a memory file
    return [str(path.relative_to(directory)) for path in sources if "wrapper" not in path.name]


def peer_section(boards, seeds, route: RouteOptions) -> list[dict]:
    from jaynes_hw.demo.digits import integer_inputs, load_digits_split

    split = load_digits_split()
    test_split = (integer_inputs(split.x_test), split.y_test)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        sources = da4ml_digits(directory, test_split)
        for board_name in boards:
            board = board_named(board_name)
            cells = yosys_netlist(directory, sources, "digits_da4ml", board)
            row = {
                "record": "peer",
                "peer": "da4ml",
                "board": board.name,
                "network": "digits 64-32-10, int8 weights, bit-exact with the reference",
                "tunable": False,
                "inferences_per_cycle": 1,
                "ffs": sum(count for cell, count in cells.items() if "FF" in cell),
            }
            if board.family == "ice40":
                luts = cells.get("SB_LUT4", 0)
                row |= {
                    "yosys_lut4": luts,
                    "yosys_carry": cells.get("SB_CARRY", 0),
                    "device_lcs": 5280,
                    "fits": luts <= 5280,
                    "reason": "no out-of-context placement on the iCE40: Yosys's LUT count",
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
                continue
            row |= out_of_context(directory, f"{board.family}.json", board, seeds, route)
            row = with_rates(row, 1)  # one inference per clock
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def out_of_context(
    directory: Path, netlist: str, board, seeds: int, route: RouteOptions = RouteOptions()
) -> dict:
    """Yosys's ``netlist`` placed and routed by nextpnr-ecp5 out of context (no pins: the
    design's ports may be hundreds of bits wide), once per seed, as ``route`` says:
    ``fits``, ``area`` (LUT4), ``ffs``, ``dsps``, median and best Fmax after routing,
    ``fmax_placed_mhz``, the median of nextpnr's estimate after placement (before routing),
    ``timing_ripup``, and ``floorplan`` (whether regions held the netlist's output groups:
    only unrolled layers have them). A seed not routed in ``route.timeout_s`` ends the
    builds: ``fits`` None with the reason, and the placement's figures where it got that far
    (the same-run comparison a route too slow to finish still allows)."""
    import subprocess

    from jaynes_hw.support.tools import yowasp_environment
    from jaynes_hw.synth.floorplan import write_floorplan

    env = yowasp_environment(board.family)
    options = route.nextpnr_options()
    floorplan = []
    if route.floorplan:
        floorplan = write_floorplan(directory, directory / netlist, board.nextpnr_device)
    how_routed = {"timing_ripup": route.timing_ripup, "floorplan": bool(floorplan)}
    fmaxes, placed_fmaxes = [], []
    for seed in range(1, seeds + 1):
        report, log = directory / f"report_{seed}.json", directory / f"nextpnr_{seed}.log"
        place = [
            env["NEXTPNR_ECP5"], "--quiet", "--out-of-context", *board.nextpnr_device,
            "--freq", str(board.fmax_target_mhz), "--json", netlist,
            "--router", "router2", "--report", report.name, "--seed", str(seed),
            "--timing-allow-fail", "--log", log.name, *options, *floorplan,
        ]  # fmt: skip
        routed = True
        try:
            subprocess.run(place, cwd=directory, env=env, check=True,
                           capture_output=True, timeout=route.timeout_s)  # fmt: skip
        except subprocess.TimeoutExpired:
            routed = False
        except subprocess.CalledProcessError as error:
            return {"fits": False, "reason": error.stderr.decode(errors="replace")[-300:]}
        placed = placement_figures(log)
        if placed:
            placed_fmaxes.append(placed["fmax_placed_mhz"])
            placed["fmax_placed_mhz"] = round(statistics.median(placed_fmaxes), 2)
        if not routed:
            reason = f"not routed in {route.timeout_s} s"
            return {"fits": None, "reason": reason} | how_routed | placed
        placed_report = json.loads(report.read_text())
        fmaxes.append(next(iter(placed_report["fmax"].values()))["achieved"])
    used = placed_report["utilization"]
    return (
        {
            "fits": True,
            "area": used["TRELLIS_COMB"]["used"],
            "ffs": used["TRELLIS_FF"]["used"],
            "dsps": used.get("MULT18X18D", {}).get("used", 0),
            "fmax_mhz": round(statistics.median(fmaxes), 2),
            "fmax_best_mhz": round(max(fmaxes), 2),
        }
        | how_routed
        | ({"fmax_placed_mhz": placed["fmax_placed_mhz"]} if placed else {})
    )


def placement_figures(log: Path) -> dict:
    """From a nextpnr-ecp5 log: ``area`` (TRELLIS_COMB) and ``ffs`` as packed, and
    ``fmax_placed_mhz``, the first Fmax it reports (its estimate after placement); empty
    before placement has finished."""
    text = log.read_text(errors="replace") if log.exists() else ""
    fmax = re.search(r"Max frequency for clock [^:]*: ([0-9.]+) MHz", text)
    comb = re.search(r"TRELLIS_COMB:\s+(\d+)/", text)
    ffs = re.search(r"TRELLIS_FF:\s+(\d+)/", text)
    if not (fmax and comb and ffs):
        return {}
    return {
        "area": int(comb.group(1)),
        "ffs": int(ffs.group(1)),
        "fmax_placed_mhz": float(fmax.group(1)),
    }


def yosys_netlist(directory: Path, sources: list[str], top: str, board) -> dict:
    """Synthesize ``sources`` for ``board`` with Yosys into ``<family>.json`` in
    ``directory``; returns Yosys's cell counts by type."""
    import subprocess

    from jaynes_hw.support.tools import yowasp_environment

    env = yowasp_environment(board.family)
    synth = f"synth_{board.family} {' '.join(board.synth_options)}"
    if board.family == "ice40":
        synth += " -dsp"
    script = (
        f"read_verilog -sv {' '.join(sources)}; {synth} -top {top}; "
        f"tee -q -o stat_{board.family}.json stat -json; write_json {board.family}.json"
    )
    subprocess.run([env["YOSYS"], "-q", "-p", script], cwd=directory, env=env, check=True)
    stat = json.loads((directory / f"stat_{board.family}.json").read_text())
    return stat["design"]["num_cells_by_type"]


# --- unrolled cores ---------------------------------------------------------------------------

# unrolled kind: (datapath, level scheme)
UNROLLED_KINDS = {
    "unrolled": ("unrolled", "lognormal"),
    "unrolled_pow2": ("unrolled", "pow2"),
    "unrolled_serial": ("unrolled_serial", "lognormal"),
    "unrolled_serial_pow2": ("unrolled_serial", "pow2"),
}
# (n_in, n_out) layers tried on the UP5K, fewest connections first. An unrolled layer pays
# an adder per connection but K level products per output, so wide layers suit it (an 8 x 8
# layer, one connection per bin and output, does not fit the UP5K with its 512 products)
UP5K_UNROLLED_SHAPES = (
    (16, 2),
    (32, 2),
    (48, 2),
    (56, 2),
    (64, 2),
    (64, 4),
    (64, 6),
    (64, 8),
    (64, 12),
)


def unrolled_layers(kind: str, shape: tuple[int, int] | None):
    """The built layers of the digits network (``shape`` None) or of a synthetic
    ``shape`` layer, unrolled as ``kind`` says, and the request they came from."""
    datapath, scheme = UNROLLED_KINDS[kind]
    if shape is None:
        request = replace(default_request(), scheme=scheme, datapath=datapath)
        request = replace(request, layers=tuple(replace(layer, datapath=None, scheme=None)
                                                for layer in request.layers))  # fmt: skip
        return build_layers(request, "lognormal"), request
    with tempfile.TemporaryDirectory() as directory:
        request = NetworkRequest(
            name="bench",
            layers=(LayerRequest("weight", relu=True),),
            source=synthetic_layer_file(shape, Path(directory)),
            scheme=scheme,
            datapath=datapath,
        )
        return build_layers(request, "lognormal"), request


def unrolled_row(kind: str, layers, shape_name: str) -> dict:
    configs = [layer.config for layer in layers]
    return {
        "record": "unrolled",
        "kind": kind,
        "network": shape_name,
        "datapath": configs[0].datapath,
        "levels": [f"m{c.mantissa_bits}e{c.exponent_bits}" for c in configs],
        "interval_cycles": network_vector_period(configs, vector_ports=True),
        "tunable": True,
        "codes_writable": False,
    }


def unrolled_ecp5(kind: str, shape, board, seeds: int, test_split, route: RouteOptions) -> dict:
    """An unrolled network with vector ports, placed out of context on the ECP5 like the
    peer: one vector in and one out per transfer, no host link."""
    from amaranth.back import verilog

    from jaynes_hw.demo.command import reference_accuracy
    from jaynes_hw.generate import build_network

    layers, request = unrolled_layers(kind, shape)
    name = "digits 64-32-10" if shape is None else f"layer {shape[0]}x{shape[1]}"
    row = unrolled_row(kind, layers, name) | {"board": board.name}
    if shape is None:
        inputs, labels = test_split
        row["accuracy"] = round(reference_accuracy(request, "lognormal", inputs, labels), 4)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        network = build_network(layers, vector_ports=True)
        (directory / "unrolled.v").write_text(verilog.convert(network, name="unrolled"))
        cells = yosys_netlist(directory, ["unrolled.v"], "unrolled", board)
        row["yosys_dsps"] = cells.get("MULT18X18D", 0)
        row |= out_of_context(directory, f"{board.family}.json", board, seeds, route)
    return with_rates(row, row["interval_cycles"])


def with_rates(row: dict, interval_cycles: int) -> dict:
    """``row`` (an out-of-context build) with ``inferences_per_s`` and
    ``inferences_per_s_per_klut`` (per thousand TRELLIS_COMB) at its Fmax after routing, and
    the same at nextpnr's estimate after placement (``_placed``), where it has them."""
    rates = {}
    for suffix, fmax in (("", row.get("fmax_mhz")), ("_placed", row.get("fmax_placed_mhz"))):
        if fmax and row.get("area"):
            per_s = fmax * 1e6 / interval_cycles
            rates[f"inferences_per_s{suffix}"] = round(per_s)
            rates[f"inferences_per_s_per_klut{suffix}"] = round(per_s / row["area"] * 1e3)
    return row | rates


def unrolled_ice40(kind: str, shape: tuple[int, int], board, seeds: int) -> dict:
    """A ``shape`` unrolled layer behind the board's host link (the iCE40 has no
    out-of-context placement), its element streams through the vector adapters: the
    core's own rate (a vector per interval) and the rate its adapters allow (n_in cycles)
    are both given."""
    layers, _ = unrolled_layers(kind, shape)
    row = unrolled_row(kind, layers, f"layer {shape[0]}x{shape[1]}") | {"board": board.name}
    with tempfile.TemporaryDirectory() as directory:
        manifest = built_files("bench", layers, Path(directory))
        row |= placed(board.name, manifest, Path(directory) / "build", seeds, True)
    if row["fits"]:
        row["inferences_per_s"] = round(row["fmax_mhz"] * 1e6 / row["interval_cycles"])
        element_period = network_vector_period([layer.config for layer in layers])
        row["inferences_per_s_element_streams"] = round(row["fmax_mhz"] * 1e6 / element_period)
    return row


def folded_ice40(kind: str, shape: tuple[int, int], board, seeds: int) -> dict | None:
    """The fastest folded build of a ``shape`` layer of ``kind`` that fits the board: lanes
    from n_out down, halving."""
    lanes = shape[1]
    while lanes >= 1:
        row = build(board.name, kind, lanes, seeds, shape=shape)
        if row["fits"]:
            row["inferences_per_s"] = round(row["fmax_mhz"] * 1e6 / row["cycles_per_vector"])
            return row | {"record": "folded", "network": f"layer {shape[0]}x{shape[1]}"}
        lanes //= 2
    return None


# --- codes in SPRAM: the UP5K's 1 Mbit at 64 bits a cycle -----------------------------------

SPRAM_SHAPE = (256, 256)
# kind: lanes that take the four SPRAMs' 64 bits a cycle (16 four-bit codes, 8 int8 weights)
SPRAM_LANES = {"pow2": 16, "lognormal_shared": 16, "int8": 8}


def spram_section(kinds, seeds) -> list[dict]:
    """A 256 x 256 layer on the UP5K, its codes in the four SPRAM blocks, each kind at the
    lanes the SPRAM's 64-bit row feeds (both bandwidth-bound), then the same layer with its
    codes in block RAM (256 kbit of 4-bit codes against 120 kbit of EBR: refused). One JSON
    line per build with ``macs_per_s`` (n_in x n_out x median Fmax / cycles per vector),
    then each lognormal-coded kind's MAC/s against int8's."""
    rows = []
    for kind in kinds:
        row = build("icebreaker", kind, SPRAM_LANES[kind], seeds, shape=SPRAM_SHAPE,
                    code_memory="spram")  # fmt: skip
        rows.append(_with_macs(row | {"record": "spram"}))
        print(json.dumps(rows[-1]), flush=True)
    block = build("icebreaker", kinds[0], SPRAM_LANES[kinds[0]], 1, shape=SPRAM_SHAPE)
    print(json.dumps(_with_macs(block | {"record": "block_ram"})), flush=True)
    by_kind = {row["kind"]: row for row in rows if row["fits"]}
    if "int8" in by_kind:
        for kind, row in by_kind.items():
            if kind != "int8":
                ratio = row["macs_per_s"] / by_kind["int8"]["macs_per_s"]
                print(json.dumps({"record": "spram_ratio", "kind": kind, "against": "int8",
                                  "macs_ratio": round(ratio, 3)}), flush=True)  # fmt: skip
    return rows


def _with_macs(row: dict) -> dict:
    if not row["fits"]:
        return row
    n_in, n_out = row["shape"]
    macs_per_s = n_in * n_out * row["fmax_mhz"] * 1e6 / row["cycles_per_vector"]
    return row | {"macs_per_s": round(macs_per_s)}


# ECP5 builds: network or layer shape (32 x 8: a quick check, routed in about a minute)
# 8x32: the digits network's first layer's 32 outputs (queue slices, lane count, register
# copies) on few inputs, which places and routes in a minute or two
UNROLLED_SHAPES = {"digits": None, "64x64": SHAPE, "32x8": (32, 8), "8x32": (8, 32)}


def unrolled_section(
    boards,
    kinds,
    seeds,
    folded_kinds,
    shapes=tuple(UNROLLED_SHAPES),
    route=RouteOptions(),
):
    """ECP5: the digits network, a 64 x 64 and a 32 x 8 layer (``shapes``), each unrolled
    kind, out of context. iCE40: the largest of ``UP5K_UNROLLED_SHAPES`` that fits, and the
    folded kinds' fastest builds of that layer beside it."""
    from jaynes_hw.demo.digits import integer_inputs, load_digits_split

    split = load_digits_split()
    test_split = (integer_inputs(split.x_test), split.y_test)
    rows = []
    for board_name in boards:
        board = board_named(board_name)
        if board.family == "ecp5":
            for shape in (UNROLLED_SHAPES[name] for name in shapes):
                for kind in kinds:
                    rows.append(unrolled_ecp5(kind, shape, board, seeds, test_split, route))
                    print(json.dumps(rows[-1]), flush=True)
            continue
        for kind in kinds:
            largest = None
            for shape in UP5K_UNROLLED_SHAPES:
                row = unrolled_ice40(kind, shape, board, seeds)
                print(json.dumps(row), flush=True)
                rows.append(row)
                if not row["fits"]:
                    break
                largest = (shape, row)
            if largest is None:
                continue
            shape, unrolled = largest
            for folded in folded_kinds:
                row = folded_ice40(folded, shape, board, seeds)
                if row is not None:
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    ratio = unrolled["inferences_per_s"] / row["inferences_per_s"]
                    print(json.dumps({
                        "record": "unrolled_vs_folded", "board": board.name,
                        "network": unrolled["network"], "unrolled": kind, "folded": folded,
                        "folded_lanes": row["lanes"], "ratio": round(ratio, 3),
                    }), flush=True)  # fmt: skip
    return rows


def peer_ratios(peers: list[dict], unrolled: list[dict]) -> None:
    """inferences/s per kLUT of each unrolled digits build against da4ml's, same board and
    run: after routing where both routed, and at nextpnr's placement estimate for both
    (``stage`` ``placed``; the only comparison when the peer's route does not finish)."""
    for peer in peers:
        for row in unrolled:
            if row.get("board") != peer["board"] or row.get("network") != "digits 64-32-10":
                continue
            for stage, suffix in (("routed", ""), ("placed", "_placed")):
                key = f"inferences_per_s_per_klut{suffix}"
                if key not in peer or key not in row:
                    continue
                print(json.dumps({
                    "record": "unrolled_vs_da4ml", "stage": stage, "board": peer["board"],
                    "kind": row["kind"],
                    "per_klut_ratio": round(row[key] / peer[key], 3),
                    "inferences_per_s_ratio": round(
                        row[f"inferences_per_s{suffix}"] / peer[f"inferences_per_s{suffix}"], 3
                    ),
                    "fmax_mhz": row[f"fmax{suffix}_mhz"],
                    "peer_fmax_mhz": peer[f"fmax{suffix}_mhz"],
                }), flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+",
                        choices=("layer", "digits", "peer", "unrolled", "spram"),
                        default=["layer", "digits", "peer", "unrolled", "spram"])  # fmt: skip
    parser.add_argument("--spram-kinds", nargs="+", choices=tuple(SPRAM_LANES),
                        default=list(SPRAM_LANES))  # fmt: skip
    parser.add_argument("--unrolled-kinds", nargs="+", choices=tuple(UNROLLED_KINDS),
                        default=list(UNROLLED_KINDS))  # fmt: skip
    parser.add_argument("--unrolled-shapes", nargs="+", choices=tuple(UNROLLED_SHAPES),
                        default=list(UNROLLED_SHAPES))  # fmt: skip
    parser.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"])
    parser.add_argument("--lanes", nargs="+", type=int, default=[4, 8, 16, 24, 32])
    parser.add_argument("--kinds", nargs="+", choices=tuple(KINDS), default=list(KINDS))
    parser.add_argument("--digits-kinds", nargs="+", choices=tuple(DIGITS_KINDS),
                        default=list(DIGITS_KINDS))  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="nextpnr seeds per build (3)")
    parser.add_argument("--route-timeout", type=int, default=ROUTE_TIMEOUT_S, metavar="SECONDS",
                        help=f"ECP5 out-of-context route limit ({ROUTE_TIMEOUT_S})")  # fmt: skip
    parser.add_argument("--timing-ripup", action="store_true",
                        help="ECP5 out of context: nextpnr's --tmg-ripup (slower)")  # fmt: skip
    parser.add_argument("--floorplan", action="store_true",
                        help="ECP5 out of context: a region per group of an unrolled layer's "
                        "outputs (a nextpnr built with Python as NEXTPNR_ECP5)")  # fmt: skip
    parser.add_argument("--plot", type=Path, help="PNG of MAC/s against LC-equivalent")
    args = parser.parse_args(argv)
    route = RouteOptions(args.route_timeout, args.timing_ripup, args.floorplan)
    if route.floorplan:
        from jaynes_hw.support.tools import yowasp_environment
        from jaynes_hw.synth.floorplan import require_python

        require_python(yowasp_environment("ecp5")["NEXTPNR_ECP5"])
    if "layer" in args.sections:
        rows = layer_section(args.boards, args.kinds, args.lanes, args.seeds)
        if args.plot:
            plot(rows, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
    if "digits" in args.sections:
        digits_section(args.digits_kinds, args.seeds)
    if "spram" in args.sections:
        spram_section(args.spram_kinds, args.seeds)
    # the peer's builds run beside the unrolled ones (each a tool process of its own)
    with ThreadPoolExecutor(max_workers=2) as pool:
        peers = (
            pool.submit(peer_section, args.boards, args.seeds, route)
            if "peer" in args.sections
            else None
        )
        rows = []
        if "unrolled" in args.sections:
            rows = unrolled_section(
                args.boards,
                args.unrolled_kinds,
                args.seeds,
                args.kinds,
                args.unrolled_shapes,
                route,
            )
        peer_rows = peers.result() if peers else []
    peer_ratios(peer_rows, rows)
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, "bench_hardware"))
