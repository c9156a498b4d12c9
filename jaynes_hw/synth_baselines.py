"""The FPGA builds whose figures are committed as regression baselines (``tests/data``).

``python -m jaynes_hw.synth_baselines [NAME ...] --write FILE`` rebuilds them and writes
the figures; ``tests/test_synth.py`` rebuilds them and compares within ``TOLERANCES``.
``smoke_icebreaker`` is small enough for CI; the others run under ``pytest -m fpga``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# name -> (board, core, shape, lanes, scheme)
BUILDS = {
    "smoke_icebreaker": ("icebreaker", "lognormal", (16, 8), 2, "pow2"),
    "compare_icebreaker_lognormal": ("icebreaker", "lognormal", (64, 32), 4, "lognormal"),
    "compare_icebreaker_pow2": ("icebreaker", "lognormal", (64, 32), 4, "pow2"),
    "compare_icebreaker_int8": ("icebreaker", "int8", (64, 32), 4, "lognormal"),
    "compare_ulx3s_lognormal": ("ulx3s", "lognormal", (64, 32), 4, "lognormal"),
    "compare_ulx3s_pow2": ("ulx3s", "lognormal", (64, 32), 4, "pow2"),
    "compare_ulx3s_int8": ("ulx3s", "int8", (64, 32), 4, "lognormal"),
}
FIGURES = ("lcs", "luts", "ffs", "brams", "dsps", "fmax_mhz")
# relative tolerance per figure: placement and small tool updates move area a little and
# Fmax more; block RAMs and DSPs must not move at all
TOLERANCES = {"lcs": 0.10, "luts": 0.10, "ffs": 0.10, "brams": 0.0, "dsps": 0.0, "fmax_mhz": 0.20}


def build(name: str, build_dir: Path) -> dict:
    """Build one of ``BUILDS``; return its figures (and the bitstream path)."""
    from jaynes_hw.generate import build_network
    from jaynes_hw.synth import compare_layers, synthesize

    board, core, shape, lanes, scheme = BUILDS[name]
    layers = compare_layers(shape, lanes, 4, scheme)[core]
    report = synthesize(board, build_network(layers), build_dir)
    figures = {key: report[key] for key in FIGURES if key in report}
    figures["bitstream"] = str(build_dir / report["bitstream"])
    figures["tools"] = report["tools"]
    return figures


def differences(found: dict, baseline: dict) -> list[str]:
    """The figures of ``found`` outside the tolerances around ``baseline``."""
    problems = []
    for key, tolerance in TOLERANCES.items():
        if key not in baseline:
            continue
        expected, got = baseline[key], found.get(key)
        if got is None or abs(got - expected) > tolerance * abs(expected):
            problems.append(f"{key}: {got} (baseline {expected}, tolerance {tolerance:.0%})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaynes_hw.synth_baselines")
    parser.add_argument("names", nargs="*", help=f"builds (default all): {', '.join(BUILDS)}")
    parser.add_argument("--write", type=Path, required=True, help="baseline JSON to update")
    args = parser.parse_args(argv)
    document = json.loads(args.write.read_text()) if args.write.exists() else {"builds": {}}
    for name in args.names or BUILDS:
        with tempfile.TemporaryDirectory() as directory:
            figures = build(name, Path(directory))
        document["tools"] = figures.pop("tools")
        figures.pop("bitstream")
        document["builds"][name] = figures
        print(name, json.dumps(figures), file=sys.stderr)
    document["command"] = f"python -m jaynes_hw.synth_baselines --write {args.write}"
    args.write.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
