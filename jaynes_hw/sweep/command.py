"""``jaynes-hw sweep SPEC.toml``: build a grid of design points on a Dask cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaynes_hw.support.cluster import add_cluster_arguments

DESCRIPTION = (
    "Design-space exploration: generate, place and route (and score on test data) every "
    "point of SPEC's grid, as tasks on local worker processes or a Dask cluster. Finished "
    "points are cached, so a rerun builds only what is new; results stream into OUT as JSON "
    "lines and CSV, with the Pareto front (inferences/s against area) per board."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="the sweep specification (TOML)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("sweep_out"),
        help="results, cache and builds (sweep_out)",
    )
    parser.add_argument(
        "--plot", action="store_true", help="also write OUT/pareto.png (needs jaynes-hw[plots])"
    )
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from jaynes_hw.support.extras import require_extra
    from jaynes_hw.sweep.run import format_front, run_sweep, write_pareto_plot
    from jaynes_hw.sweep.spec import parse_spec

    spec = parse_spec(args.spec)
    if args.plot:
        require_extra("matplotlib", "plots", "plotting")
    args.out.mkdir(parents=True, exist_ok=True)
    result = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler)
    print(
        f"{len(result.records)} points: {result.built} built this run, {result.cached} from "
        f"the cache, {result.failed} failed"
    )
    for record in result.records:
        if record["status"] != "ok":
            print(f"  failed {record['key']}: {record['reason']}")
    print(format_front(result.pareto))
    print(f"wrote {args.out / 'results.jsonl'}, {args.out / 'results.csv'}")
    if args.plot:
        path = write_pareto_plot(args.out / "pareto.png", result.records, result.pareto)
        print(f"wrote {path}")
    return 0
