"""``jaynes-hw sim``: run the Verilog testbench on a design and say whether it passed.

- ``--rtl DIR``: the design(s) a generator run wrote into DIR, as they are on disk (every
  manifest in DIR, or the one ``--name`` picks). The model comes from the manifest and
  memory files, so an edited or broken Verilog file fails here.
- ``--config FILE`` / ``--weights FILE`` / nothing: generate first (as
  ``python -m jaynes_hw.generate`` would, into ``BUILD_DIR/generated``), then simulate.

Exit status 0 when every scenario passes, 1 when any fails (or on bad input).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

from jaynes_hw.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jaynes_hw.cli import positive_int

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--rtl", type=Path, metavar="DIR", help="a directory the generator wrote")
    source.add_argument("--config", type=Path, help="TOML network description (generate first)")
    parser.add_argument("--weights", type=Path, help="quantized file (generate first)")
    parser.add_argument("--core", choices=("lognormal", "int8"), help="core kind when generating")
    parser.add_argument("--name", help="with --rtl: the design (file stem) to simulate")
    parser.add_argument("--vectors", type=positive_int, default=8, help="vectors per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    parser.add_argument(
        "--scenarios",
        type=lambda text: tuple(part.strip() for part in text.split(",") if part.strip()),
        help="comma-separated subset of the scenarios (default: all)",
    )
    parser.add_argument(
        "--build-dir", type=Path, default=Path("sim_build"), help="simulator builds (sim_build)"
    )


def manifests(args) -> list[Path]:
    """The manifests of the designs to simulate (generating them first if asked)."""
    if args.rtl is not None:
        if args.weights is not None or args.core is not None:
            raise UserError("--rtl simulates what is in DIR; it takes no --weights or --core")
        if not args.rtl.is_dir():
            raise UserError(f"{args.rtl}: not a directory")
        found = sorted(args.rtl.glob("*.json"))
        if args.name is not None:
            found = [path for path in found if path.stem == args.name]
        found = [path for path in found if _is_manifest(path)]
        if not found:
            which = f"named {args.name!r} " if args.name else ""
            raise UserError(f"{args.rtl}: no generator manifest {which}(NAME.json)")
        return found
    from jaynes_hw import generate

    options = SimpleNamespace(
        config=args.config,
        weights=args.weights,
        core=args.core,
        scheme=None,
        name=args.name,
        out=args.build_dir / "generated",
    )
    written = generate.generate(options)
    return [path for path in written if path.suffix == ".json"]


def _is_manifest(path: Path) -> bool:
    try:
        return '"jaynes-hw-manifest"' in path.read_text()[:200]
    except OSError:
        return False


def run(args) -> int:
    from jaynes_hw.sim.runner import SCENARIOS, simulate

    scenarios = args.scenarios or SCENARIOS
    failed = 0
    for manifest in manifests(args):
        print(f"{manifest.stem} ({manifest.parent}, {args.simulator}, {args.vectors} vectors, "
              f"seed {args.seed})")  # fmt: skip
        results = simulate(
            manifest,
            scenarios=scenarios,
            vectors=args.vectors,
            seed=args.seed,
            simulator=args.simulator,
            build_root=args.build_dir,
        )
        for result in results:
            line = f"  {result.scenario:<18} {'pass' if result.passed else 'FAIL'}"
            if "cycles_per_vector" in result.figures:
                figures = result.figures
                line += (
                    f"  {figures['cycles_per_vector']:g} cycles/vector (theory "
                    f"{figures['theoretical_cycles_per_vector']}, ratio {figures['ratio']:.3f})"
                )
            if not result.passed:
                line += f"  {result.message}"
            print(line)
        failed += sum(not result.passed for result in results)
    print("PASS" if not failed else f"FAIL: {failed} scenario(s) failed")
    return 1 if failed else 0
