"""Mutation score: how many deliberate one-site faults in the emitted Verilog the
verification catches.

For each committed design (``rtl/digits_mlp``: m6e2 levels; ``digits_mlp_pow2``;
``digits_mlp_int8``) the bench makes ``--mutants`` mutants, each one change at a site drawn
(seeded) from the design's ``assign`` lines and register updates:

- ``operator``: ``+``/``-``, ``&``/``|``, ``^``/``&``, ``==``/``!=``, ``<``/``>=`` swapped;
- ``constant``: a hex constant's last digit changed (``5'h1e`` -> ``5'h1f``);
- ``width``: an operand's top bit dropped from a slice (``[12:0]`` -> ``[11:0]``);
- ``stuck_register``: a register that keeps its value (``r <= next`` -> ``r <= r``: a dropped
  register stage, as far as the design can tell);
- ``mux_arms``: the two arms of a ``?:`` swapped.

A mutant whose netlist is the original's once yosys has optimised both (``proc; flatten;
opt -full; opt_clean -purge``: "trivial compiler equivalence") is **equivalent**: it changes
a dead wire or adds a zero, and no test could kill it; it is not simulated and not counted.
Every other mutant is judged by ``jaynes-hw sim``'s checks: every cocotb scenario
(``--vectors``) and a bulk stream (``--bulk``), on Verilator. It is **killed** when any check
fails, **survives** when all pass, and is **stillborn** when Verilator cannot build it (not
counted). One JSON line per mutant (with the changed line for a survivor, so it shows where
the scenarios are blind), then one summary line per design and overall: the share killed
among the mutants decided, and the median seconds to decide a mutant.

    python bench/bench_mutation.py [--designs digits_mlp ...] [--mutants 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jaynes_hw.sim.bulk import bulk_stream
from jaynes_hw.sim.runner import simulate
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.tools import yowasp_environment

RTL = Path(__file__).resolve().parent.parent / "rtl"
DESIGNS = ("digits_mlp", "digits_mlp_pow2", "digits_mlp_int8")

OPERATOR_SWAPS = {" + ": " - ", " - ": " + ", " & ": " | ", " | ": " & ", " ^ ": " & ",
                  " == ": " != ", " != ": " == ", " < ": " >= ", " >= ": " < "}  # fmt: skip
ASSIGN = re.compile(r"^\s*assign .+;$")
REGISTER = re.compile(r"^(\s*)(\\?\S+) <= (\\?\S+) ;$")
CONSTANT = re.compile(r"\d+'h([0-9a-f]+)")
SLICE = re.compile(r"\[(\d+):0\]")
MUX = re.compile(r"= (.+) \? (.+) : (.+);$")


def candidates(lines: list[str]) -> dict[str, list[int]]:
    """Line numbers where each kind of mutation applies."""
    sites = {"operator": [], "constant": [], "width": [], "stuck_register": [], "mux_arms": []}
    for number, line in enumerate(lines):
        if ASSIGN.match(line):
            if any(operator in line for operator in OPERATOR_SWAPS):
                sites["operator"].append(number)
            if CONSTANT.search(line):
                sites["constant"].append(number)
            if any(int(match.group(1)) > 0 for match in SLICE.finditer(line)):
                sites["width"].append(number)
            if MUX.search(line):
                sites["mux_arms"].append(number)
        elif REGISTER.match(line) and "always" not in line:
            sites["stuck_register"].append(number)
    return sites


def mutate(line: str, kind: str, rng: random.Random) -> str:
    if kind == "operator":
        operator = rng.choice([op for op in OPERATOR_SWAPS if op in line])
        return line.replace(operator, OPERATOR_SWAPS[operator], 1)
    if kind == "constant":
        match = rng.choice(list(CONSTANT.finditer(line)))
        digits = match.group(1)
        last = format((int(digits[-1], 16) ^ 1), "x")
        return line[: match.end() - 1] + last + line[match.end() :]
    if kind == "width":
        match = rng.choice([m for m in SLICE.finditer(line) if int(m.group(1)) > 0])
        return line[: match.start()] + f"[{int(match.group(1)) - 1}:0]" + line[match.end() :]
    if kind == "stuck_register":
        indent, target, _ = REGISTER.match(line).groups()
        return f"{indent}{target} <= {target} ;"
    match = MUX.search(line)
    condition, then, otherwise = match.groups()
    return line[: match.start()] + f"= {condition} ? {otherwise} : {then};"


NORMALISE = "proc; flatten; opt -full; opt_clean -purge"


def optimised_netlist(directory: Path, stem: str) -> str:
    """The design in ``directory`` as yosys leaves it after ``NORMALISE`` (RTLIL, without
    source attributes, which name lines)."""
    script = (
        f"read_verilog -sv {stem}.v; hierarchy -top {stem}; {NORMALISE}; write_rtlil netlist.il"
    )
    completed = subprocess.run(
        [yowasp_environment("ice40")["YOSYS"], "-q", "-p", script],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        return ""  # yosys refused it: not provably equivalent
    lines = (directory / "netlist.il").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("attribute \\src"))


def judge(directory: Path, stem: str, vectors: int, bulk: int, seed: int) -> str:
    """``killed``, ``survived`` or ``stillborn`` for the design in ``directory``."""
    manifest = directory / f"{stem}.json"
    try:
        results = simulate(manifest, vectors=vectors, seed=seed, build_root=directory / "build")
    except UserError:  # Verilator could not build it
        return "stillborn", ""
    failed = next((result for result in results if not result.passed), None)
    if failed is not None:
        return "killed", f"{failed.scenario}: {failed.message}"
    result = bulk_stream(manifest, bulk, seed, build_root=directory / "build")
    return ("killed", f"bulk_stream: {result.message}") if not result.passed else ("survived", "")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--mutants", type=int, default=30, help="mutants per design")
    parser.add_argument("--vectors", type=int, default=6, help="vectors per scenario")
    parser.add_argument("--bulk", type=int, default=500, help="vectors of the bulk stream")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    everything = []
    for stem in args.designs:
        text = (RTL / f"{stem}.v").read_text()
        lines = text.splitlines()
        with tempfile.TemporaryDirectory() as name:
            shutil.copy(RTL / f"{stem}.v", Path(name) / f"{stem}.v")
            original_netlist = optimised_netlist(Path(name), stem)
        sites = candidates(lines)
        kinds = [kind for kind, numbers in sites.items() if numbers]
        outcomes = []
        for index in range(args.mutants):
            kind = kinds[index % len(kinds)]
            number = rng.choice(sites[kind])
            mutated = mutate(lines[number], kind, rng)
            with tempfile.TemporaryDirectory() as name:
                directory = Path(name)
                for path in RTL.glob(f"{stem}.*"):
                    shutil.copy(path, directory / path.name)
                changed = [*lines[:number], mutated, *lines[number + 1 :]]
                (directory / f"{stem}.v").write_text("\n".join(changed) + "\n")
                started = time.perf_counter()
                if optimised_netlist(directory, stem) == original_netlist:
                    outcome, reason = "equivalent", ""
                else:
                    outcome, reason = judge(directory, stem, args.vectors, args.bulk, args.seed)
                seconds = time.perf_counter() - started
            row = {"bench": "mutation", "design": stem, "mutant": index, "kind": kind,
                   "line": number + 1, "outcome": outcome, "seconds": round(seconds, 1),
                   "original": lines[number].strip(), "mutated": mutated.strip()}  # fmt: skip
            if outcome == "killed":
                row["by"] = reason[:160]
            outcomes.append(row)
            print(json.dumps(row), flush=True)
        everything += outcomes
        print(json.dumps(summary(stem, outcomes)), flush=True)
    print(json.dumps(summary("all", everything)), flush=True)
    return 0


def summary(name: str, rows: list[dict]) -> dict:
    decided = [row for row in rows if row["outcome"] in ("killed", "survived")]
    killed = sum(row["outcome"] == "killed" for row in decided)
    return {
        "bench": "mutation",
        "design": name,
        "summary": "killed share",
        "mutants": len(rows),
        "stillborn": sum(row["outcome"] == "stillborn" for row in rows),
        "equivalent": sum(row["outcome"] == "equivalent" for row in rows),
        "killed": killed,
        "survived": len(decided) - killed,
        "killed_share": round(killed / len(decided), 3) if decided else None,
        "median_seconds": statistics.median(row["seconds"] for row in rows) if rows else None,
        "max_seconds": max((row["seconds"] for row in rows), default=None),
    }


if __name__ == "__main__":
    sys.exit(main())
