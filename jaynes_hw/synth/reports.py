"""What a build used and reached, read from Yosys's ``stat -json`` (flip-flops, DSP cells)
and nextpnr's ``--report`` (logic cells or LUTs, block RAMs, DSPs, Fmax).

Report fields: ``lcs`` (iCE40 logic cells) or ``luts`` (ECP5 LUT4s), ``ffs``, ``brams``,
``dsps``, ``fmax_mhz`` (what nextpnr reached for the one clock; None if it reports none),
``critical_path`` (that clock's slowest path: where it starts and ends, its logic cells
and its delay in ns) and ``limited_by``, the parts of the board top it runs between:
``link``, ``network`` or ``top`` (the board top's own cells), or two of them joined by "/".
"""

from __future__ import annotations

import json
from pathlib import Path

from jaynes_hw.boards.definitions import Board

RESOURCE_CELLS = {  # report field -> nextpnr cell type
    "ice40": {"lcs": "ICESTORM_LC", "brams": "ICESTORM_RAM", "dsps": "ICESTORM_DSP"},
    "ecp5": {"luts": "TRELLIS_COMB", "brams": "DP16KD", "dsps": "MULT18X18D"},
}
DSP_CELLS = {"ice40": "SB_MAC16", "ecp5": "MULT18X18D"}  # Yosys's cell for a DSP block


def area_field(board: Board) -> str:
    """The report field that counts the device's logic: ``lcs`` or ``luts``."""
    return next(iter(RESOURCE_CELLS[board.family]))


def read_reports(board: Board, build_dir: Path) -> dict:
    """The figures of a finished build in ``build_dir``."""
    nextpnr = json.loads((build_dir / "report.json").read_text())
    utilisation = nextpnr["utilization"]
    report = {
        field: int(utilisation.get(cell, {}).get("used", 0))
        for field, cell in RESOURCE_CELLS[board.family].items()
    }
    cells = json.loads((build_dir / "stat.json").read_text())["design"]["num_cells_by_type"]
    report["ffs"] = sum(count for cell, count in cells.items() if "DFF" in cell or "_FF" in cell)
    clocks = nextpnr.get("fmax", {})
    if clocks:
        first = next(iter(clocks.values()))  # one clock domain
        report["fmax_mhz"] = round(float(first["achieved"]), 2)
    else:
        report["fmax_mhz"] = None
    report.update(critical_path(nextpnr))
    return report


def critical_path(nextpnr: dict) -> dict:
    """``critical_path`` and ``limited_by`` (module docstring) from nextpnr's report: its
    first path between two registers of the clock (empty when it reports none)."""
    for path in nextpnr.get("critical_paths", []):
        if path.get("from") != path.get("to") or not path.get("path"):
            continue  # a path to or from the pins
        steps = path["path"]
        start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
        parts = dict.fromkeys(_part(cell) for cell in (start, end))
        return {
            "critical_path": {
                "from": start,
                "to": end,
                "logic_cells": sum(step["type"] == "logic" for step in steps),
                "delay_ns": round(sum(step["delay"] for step in steps), 2),
            },
            "limited_by": "/".join(parts),
        }
    return {}


def _part(cell: str) -> str:
    """The board top's submodule a placed cell belongs to (``top`` for its own cells)."""
    head, dot, _ = cell.partition(".")
    return head if dot and head in ("link", "network") else "top"


def failure_reason(board: Board, build_dir: Path) -> str:
    """One line on why a build failed, from what Yosys counted and where the logs are."""
    try:
        cells = json.loads((build_dir / "stat.json").read_text())["design"]["num_cells_by_type"]
    except (OSError, ValueError, KeyError):
        return f"synthesis for {board.name} failed; see {build_dir / 'top.rpt'}"
    log = build_dir / "top.tim"
    dsps = cells.get(DSP_CELLS[board.family], 0)
    if dsps > board.dsps:
        return (
            f"the design needs {dsps} DSP blocks, the {board.name} has {board.dsps}: use fewer "
            f"lanes, or --no-dsp for LUT multipliers; see {log}"
        )
    return f"place and route for {board.name} failed (the design may not fit); see {log}"
