"""Floorplans for nextpnr: each group of an unrolled layer's outputs in a region of its own.

An unrolled layer's registers of output group g are named ``g<g>_...``
(``jaynes_hw.gateware.unrolled``), under the network's ``layer<n>.datapath.``; Yosys names the
logic cells it maps after the registers they feed, so a cell's name says its group. Left to
itself, nextpnr's placer spreads the digits network's groups over the ECP5-85F and router2
does not converge (900 wires still overused after 95 minutes); with each group held in a
region of its own the same netlist routes in under 5 minutes.

The plan (``plan_regions``): the layers side by side, left to right, each a band of columns
as wide as its share of the cells; a layer's groups in a grid inside its band, taken in a
serpentine (left to right, then right to left on the next row), so group g + 1, which reads
the input delay line a cycle after group g, is a neighbour of group g. A layer's control
(``control_...``: its credits, valid flags and commit, a few flags decided from each other)
goes into the region of the group at its band's centre (``control_homes``): kept together,
and no farther from any group than it must be. (A region of its own, a square over the
groups' regions there, left nextpnr's placer legalising for over 15 minutes without end.)
Only those logic cells (LUTs, carry cells, flip-flops) are constrained; the input delay line,
the output queue, the configuration port and the block RAMs are placed freely, pulled to
what they feed.

nextpnr applies a plan through its Python hook, run before placement (``write_floorplan``:
``--pre-place``): this needs a nextpnr built with Python (Debian's ``nextpnr-ecp5`` is;
YoWASP's WebAssembly build is not).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import write_json, write_text

# a grouped cell (``jaynes_hw.gateware.unrolled.group_name``): its layer, its group
GROUP_CELL = r"layer(\d+)\.datapath\.g(\d+)_"
# a cell of a layer's control (``jaynes_hw.gateware.unrolled.control_name``): its layer
CONTROL_CELL = r"layer(\d+)\.datapath\.control_"
# Yosys cells by what they weigh in LUT4s (a CCU2C is two LUT4s and a carry)
CELL_WEIGHTS = {"LUT4": 1, "CCU2C": 2}
# nextpnr's packed cell types a region holds (block RAM and DSP tiles are too sparse to keep
# a group's share of them inside its rectangle)
CONSTRAINED_TYPES = ("TRELLIS_COMB", "TRELLIS_FF")
# The die in tiles (x, y), by nextpnr's device option: its logic is inside the IO ring
DIES = {"--85k": (126, 95), "--um-85k": (126, 95), "--um5g-85k": (126, 95)}
PLAN_FILE = "floorplan.json"
HOOK_FILE = "floorplan_hook.py"

# Run by nextpnr (its own Python, without this package): the plan's regions, then every
# grouped logic cell constrained to its group's region. nextpnr places a carry chain as one
# piece, with the cells its packer added to feed it in or out (``$nextpnr_CCU2C_...``) and
# the flip-flops its sums drive through ``DI``, so those take the chain's region: Yosys shares
# logic between groups (two groups' adders of the same inputs have the same lowest sum bit),
# and a chain held by two regions has no legal place.
HOOK = f'''\
import collections, json, re

plan = json.load(open("{PLAN_FILE}"))
for name, (x0, y0, x1, y1) in plan["regions"].items():
    ctx.createRectangularRegion(name, x0, y0, x1, y1)
grouped = re.compile(plan["pattern"])
control = re.compile(plan["control_pattern"])
region_of = {{}}
for name, cell in ctx.cells:
    if cell.type not in plan["types"]:
        continue
    if found := grouped.match(name):
        region = "layer%s_g%s" % found.groups()
    elif found := control.match(name):
        region = plan["controls"].get(found[1])
    else:
        continue
    if region in plan["regions"]:
        region_of[name] = region


def net_of(cell, port):
    try:
        return cell.ports[port].net
    except KeyError:  # a LUT alone: no carry ports
        return None


def carry_linked(cell):
    for port in ("FCI", "FCO"):
        net = net_of(cell, port)
        if net is not None:
            if net.driver.cell is not None:
                yield net.driver.cell
            yield from (user.cell for user in net.users)


seen = set()
for name, cell in ctx.cells:
    if cell.type != "TRELLIS_COMB" or name in seen or net_of(cell, "FCO") is None:
        continue
    chain, pending = [], [cell]
    seen.add(name)
    while pending:
        member = pending.pop()
        chain.append(member)
        for linked in carry_linked(member):
            if linked.name not in seen:
                seen.add(linked.name)
                pending.append(linked)
    regions = collections.Counter(region_of[c.name] for c in chain if c.name in region_of)
    if regions:
        region = regions.most_common(1)[0][0]
        for member in chain:
            region_of[member.name] = region
            sums = net_of(member, "F")
            for user in sums.users if sums is not None else ():
                if user.cell.type == "TRELLIS_FF" and user.port == "DI":
                    region_of[user.cell.name] = region
for name, region in region_of.items():
    ctx.constrainCellToRegion(name, region)
'''


def group_weights(netlist: dict) -> dict[tuple[int, int], int]:
    """LUT4s (``CELL_WEIGHTS``) per (layer, group) in a Yosys JSON ``netlist`` (its top
    module's cells), and per (layer, None) for each layer's cells outside its groups."""
    grouped = re.compile(GROUP_CELL)
    layer = re.compile(r"layer(\d+)\.")
    weights: dict[tuple[int, int | None], int] = {}
    module = next(m for m in netlist["modules"].values() if int(m["attributes"].get("top", "0")))
    for name, cell in module["cells"].items():
        weight = CELL_WEIGHTS.get(cell["type"], 0)
        if not weight:
            continue
        if found := grouped.match(name):
            key = (int(found[1]), int(found[2]))
        elif found := layer.match(name):
            key = (int(found[1]), None)
        else:
            continue
        weights[key] = weights.get(key, 0) + weight
    return weights


def plan_regions(weights: dict, die: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
    """Regions ``layer<n>_g<g>`` (x0, y0, x1, y1, tiles, inclusive) for the groups in
    ``weights`` (``group_weights``), on a die of ``die`` tiles inside its one-tile IO ring.
    A layer's band of columns is as wide as its share of all the weight (its groups' and
    the rest of it); a group's cell of the band's grid as large as an equal share."""
    width, height = die[0] - 2, die[1] - 2  # columns and rows inside the ring
    layers = sorted({layer for layer, _ in weights})
    total = sum(weights.values())
    regions = {}
    left = 1
    for index, layer in enumerate(layers):
        share = sum(weight for (n, _), weight in weights.items() if n == layer) / total
        right = width if index == len(layers) - 1 else left + round(share * width) - 1
        groups = sorted(g for n, g in weights if n == layer and g is not None)
        rows, columns = _grid(len(groups), right - left + 1, height)
        for slot, group in enumerate(groups):
            row, column = divmod(slot, columns)
            if row % 2:  # serpentine: odd rows right to left
                column = columns - 1 - column
            x0, x1 = _span(left, right, column, columns)
            y0, y1 = _span(1, height, row, rows)
            regions[f"layer{layer}_g{group}"] = (x0, y0, x1, y1)
        left = right + 1
    return regions


def control_homes(regions: dict[str, tuple[int, int, int, int]]) -> dict[str, str]:
    """Per layer (its number, a string), the region of ``regions`` (``plan_regions``) its
    control goes into: the group's nearest the centre of the layer's band."""
    homes = {}
    for layer in sorted({name.split("_")[0] for name in regions}):
        own = sorted((name, r) for name, r in regions.items() if name.startswith(f"{layer}_"))
        band = (
            min(r[0] for _, r in own),
            min(r[1] for _, r in own),
            max(r[2] for _, r in own),
            max(r[3] for _, r in own),
        )
        distances = [(math.dist(_centre(band), _centre(r)), name) for name, r in own]
        homes[layer.removeprefix("layer")] = min(distances)[1]
    return homes


def _centre(rectangle: tuple[int, int, int, int]) -> tuple[float, float]:
    x0, y0, x1, y1 = rectangle
    return (x0 + x1) / 2, (y0 + y1) / 2


def _grid(count: int, width: int, height: int) -> tuple[int, int]:
    """Rows and columns for ``count`` cells on a width x height band: as few cells left
    empty as can be, then the squarest."""
    if count == 0:
        return 1, 1

    def cost(rows: int) -> tuple[int, float]:
        columns = math.ceil(count / rows)
        return rows * columns - count, abs(math.log((width / columns) / (height / rows)))

    rows = min(range(1, count + 1), key=cost)
    return rows, math.ceil(count / rows)


def _span(low: int, high: int, index: int, parts: int) -> tuple[int, int]:
    """The ``index``-th of ``parts`` near-equal runs of the tiles ``low..high``."""
    size = high - low + 1
    return low + index * size // parts, low + (index + 1) * size // parts - 1


def runs_python(nextpnr: str) -> bool:
    """Whether the nextpnr program ``nextpnr`` (a path) can run a floorplan's hook: its usage
    lists ``--pre-place``, which only a build with Python has."""
    usage = subprocess.run([nextpnr, "--help"], capture_output=True, text=True, timeout=60)
    return "--pre-place" in usage.stdout + usage.stderr


def require_python(nextpnr: str) -> None:
    """``UserError`` unless ``nextpnr`` can run a floorplan's hook (``runs_python``)."""
    if not runs_python(nextpnr):
        raise UserError(
            f"{nextpnr} has no Python, which a floorplan needs: name a nextpnr-ecp5 built "
            "with it (Debian's) as NEXTPNR_ECP5"
        )


def write_floorplan(directory: Path, netlist: Path, device_options) -> list[str]:
    """The plan of Yosys's ``netlist`` (a JSON file) and nextpnr's hook applying it, written
    into ``directory``; returns the nextpnr options that run it, none for a netlist without
    output groups (nothing written). ``device_options``: the board's nextpnr device options
    (the die comes from them)."""
    die = next((DIES[option] for option in device_options if option in DIES), None)
    if die is None:
        devices = " ".join(device_options)
        raise UserError(f"no floorplan for the device {devices}: only for the ECP5-85F")
    weights = group_weights(json.loads(Path(netlist).read_text()))
    if all(group is None for _, group in weights):
        return []
    regions = plan_regions(weights, die)
    plan = {
        "pattern": GROUP_CELL,
        "control_pattern": CONTROL_CELL,
        "types": list(CONSTRAINED_TYPES),
        "regions": regions,
        "controls": control_homes(regions),
    }
    write_json(Path(directory) / PLAN_FILE, plan)
    write_text(Path(directory) / HOOK_FILE, HOOK)
    return ["--pre-place", HOOK_FILE]
