"""The FPGA builds whose figures are committed as regression baselines (``tests/data``).

``python -m tests.helpers.synth_baselines [NAME ...] --write FILE`` (from the repository
root) rebuilds them and writes the figures; ``tests/synth/test_flow.py`` rebuilds them and
compares within ``TOLERANCES``.
``smoke_icebreaker`` is small enough for CI; the others run under ``pytest -m fpga``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Build:
    """One baseline build: a board and the network on it.

    ``network`` is ``"default"`` (the built-in digits network, as ``jaynes-hw synth --board
    BOARD`` builds it) or a synthetic ``compare_layers`` layer: (core, shape, lanes, scheme).
    """

    board: str
    network: str | tuple
    dsp: bool = True

    def layers(self):
        from jaynes_hw.generate import build_plan, plan_generation
        from jaynes_hw.synth import compare_layers

        if self.network == "default":
            return build_plan(plan_generation())
        core, shape, lanes, scheme = self.network
        return compare_layers(shape, lanes, 4, scheme)[core]


BUILDS = {
    "smoke_icebreaker": Build("icebreaker", ("lognormal", (16, 8), 2, "pow2")),
    "digits_icebreaker": Build("icebreaker", "default"),
    "compare_icebreaker_lognormal": Build("icebreaker", ("lognormal", (64, 32), 4, "lognormal")),
    "compare_icebreaker_pow2": Build("icebreaker", ("lognormal", (64, 32), 4, "pow2")),
    "compare_icebreaker_int8": Build("icebreaker", ("int8", (64, 32), 4, "lognormal")),
    "compare_icebreaker_lognormal_nodsp": Build(
        "icebreaker", ("lognormal", (64, 32), 4, "lognormal"), dsp=False
    ),
    "compare_icebreaker_int8_nodsp": Build(
        "icebreaker", ("int8", (64, 32), 4, "lognormal"), dsp=False
    ),
    "compare_ulx3s_lognormal": Build("ulx3s", ("lognormal", (64, 32), 4, "lognormal")),
    "compare_ulx3s_pow2": Build("ulx3s", ("lognormal", (64, 32), 4, "pow2")),
    "compare_ulx3s_int8": Build("ulx3s", ("int8", (64, 32), 4, "lognormal")),
}
FIGURES = ("lcs", "luts", "ffs", "brams", "dsps", "fmax_mhz")
# relative tolerance per figure: placement and small tool updates move area a little and
# Fmax more; block RAMs and DSPs must not move at all
TOLERANCES = {"lcs": 0.10, "luts": 0.10, "ffs": 0.10, "brams": 0.0, "dsps": 0.0, "fmax_mhz": 0.20}


def build(name: str, build_dir: Path) -> dict:
    """Build one of ``BUILDS``; return its figures (and the bitstream path)."""
    from jaynes_hw.boards import board_named
    from jaynes_hw.generate import render
    from jaynes_hw.support.files import write_text_files
    from jaynes_hw.synth import synthesize

    spec = BUILDS[name]
    written = write_text_files(build_dir / "rtl", render(name, spec.layers(), {"baseline": name}))
    manifest = next(path for path in written if path.suffix == ".json")
    clock_mhz = board_named(spec.board).fmax_target_mhz  # one build, at a fixed clock
    report = synthesize(
        spec.board, manifest, build_dir / "build", clock_mhz=clock_mhz, dsp=spec.dsp
    )
    figures = {key: report[key] for key in FIGURES if key in report}
    figures["bitstream"] = str(build_dir / "build" / report["bitstream"])
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
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.synth_baselines")
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
    document["command"] = f"python -m tests.helpers.synth_baselines --write {args.write}"
    args.write.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
