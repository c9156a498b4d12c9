"""``jaynes-hw sim``: run the cocotb scenarios on a design's Verilog and say whether it passed.

- ``--rtl DIR``: the design(s) a generator run wrote into DIR, as they are on disk (every
  manifest in DIR, or the one ``--name`` picks). The model comes from the manifest and
  memory files, so an edited or broken Verilog file fails here.
- ``--config FILE`` / ``--weights FILE`` / nothing: generate first (as
  ``python -m jaynes_hw.generate`` would, into ``BUILD_DIR/generated``), then simulate.

``--bulk N`` also streams N random vectors through a Verilog harness
(``jaynes_hw.sim.bulk``) at the simulator's own speed. A long run asked of the scenarios
(``--vectors`` above ``SCENARIO_VECTORS_LIMIT``) goes there too: the scenarios, which drive
each clock from Python, run ``SCENARIO_VECTORS_LIMIT`` vectors each, and the bulk stream
all ``--vectors``. ``--waves`` writes a waveform per
scenario and prints its path under the scenario's line.
No scenario hangs: a design that stops answering fails it within its cycle budget
(``jaynes_hw.sim.budget``), with one line naming what was expected by which cycle.

Exit status 0 when every scenario passes, 1 when any fails (or on bad input).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaynes_hw.contract.layer_config import CORE_KINDS
from jaynes_hw.sim.runner import BUILD_ROOT, SCENARIOS, SIMULATORS
from jaynes_hw.support.arguments import comma_list, positive_int
from jaynes_hw.support.errors import UserError

SCENARIO_VECTORS_LIMIT = 64  # per cocotb scenario; longer runs go through the bulk harness

DESCRIPTION = (
    "Run the cocotb testbench on a design's Verilog; exit 1 on any mismatch. With no design "
    "option: the built-in default network, generated first."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--rtl", type=Path, metavar="DIR", help="a directory the generator wrote")
    source.add_argument("--config", type=Path, help="TOML network description (generate first)")
    parser.add_argument("--weights", type=Path, help="quantized file (generate first)")
    parser.add_argument("--core", choices=CORE_KINDS, help="core kind when generating")
    parser.add_argument("--name", help="with --rtl: the design (file stem) to simulate")
    parser.add_argument(
        "--vectors",
        type=positive_int,
        default=8,
        help=f"vectors per scenario; above {SCENARIO_VECTORS_LIMIT}, the scenarios run "
        f"{SCENARIO_VECTORS_LIMIT} each and the bulk harness streams all N (as --bulk N)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulator", choices=SIMULATORS, default="verilator")
    parser.add_argument(
        "--scenarios",
        type=comma_list(SCENARIOS, "scenario"),
        help=f"comma-separated subset of the scenarios (default: all: {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--build-dir", type=Path, default=BUILD_ROOT, help="simulator builds (sim_build)"
    )
    parser.add_argument(
        "--bulk",
        type=positive_int,
        metavar="N",
        help="also stream N random vectors through the Verilog harness at the simulator's own "
        "speed (stalls on both streams), every result judged by the reference",
    )
    parser.add_argument(
        "--waves",
        action="store_true",
        help="write a waveform per scenario (Verilator: VCD, Icarus: FST) and name its file",
    )


def manifests_in(directory: Path, name: str | None = None) -> list[Path]:
    """The generator manifests in ``directory`` (only ``name``'s when given)."""
    from jaynes_hw.contract.manifest import is_manifest

    if not directory.is_dir():
        raise UserError(f"{directory}: not a directory")
    found = [
        path
        for path in sorted(directory.glob("*.json"))
        if (name is None or path.stem == name) and is_manifest(path)
    ]
    if not found:
        which = f"named {name!r} " if name else ""
        raise UserError(f"{directory}: no generator manifest {which}(NAME.json)")
    return found


def _manifests(args: argparse.Namespace) -> list[Path]:
    """The manifests of the designs to simulate (generating them first if asked)."""
    if args.rtl is not None:
        if args.weights is not None or args.core is not None:
            raise UserError("--rtl simulates what is in DIR; it takes no --weights or --core")
        return manifests_in(args.rtl, args.name)
    from jaynes_hw.generate import generate, plan_generation

    plan = plan_generation(args.config, args.weights, args.core, name=args.name)
    written = generate(plan, args.build_dir / "generated")
    return [path for path in written if path.suffix == ".json"]


def _bulk(manifest: Path, vectors: int, args: argparse.Namespace) -> bool:
    from jaynes_hw.sim.bulk import bulk_stream

    result = bulk_stream(manifest, vectors, args.seed, args.simulator, args.build_dir)
    line = f"  {'bulk_stream':<18} {'pass' if result.passed else 'FAIL'}"
    if result.passed:
        line += (f"  {result.vectors:,} vectors, {result.cycles:,} cycles in "
                 f"{result.seconds:.1f} s ({result.cycles_per_second:,.0f} cycles/s)")  # fmt: skip
    else:
        line += f"  {result.message}"
    print(line)
    return result.passed


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.sim.runner import simulate

    scenarios = args.scenarios or SCENARIOS
    vectors = min(args.vectors, SCENARIO_VECTORS_LIMIT)
    bulk = args.bulk or (args.vectors if args.vectors > SCENARIO_VECTORS_LIMIT else None)
    failed = 0
    for manifest in _manifests(args):
        print(f"{manifest.stem} ({manifest.parent}, {args.simulator}, {vectors} vectors, "
              f"seed {args.seed})")  # fmt: skip
        results = simulate(
            manifest,
            scenarios=scenarios,
            vectors=vectors,
            seed=args.seed,
            simulator=args.simulator,
            build_root=args.build_dir,
            waves=args.waves,
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
            if result.waves is not None:
                line += f"\n  {'':<18} waves: {result.waves}"
            print(line)
        failed += sum(not result.passed for result in results)
        if bulk:
            failed += not _bulk(manifest, bulk, args)
    print("PASS" if not failed else f"FAIL: {failed} scenario(s) failed")
    return 1 if failed else 0
