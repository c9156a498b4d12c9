"""Running a sweep: cache, tasks on the cluster, results as they finish, the Pareto front.

Every point has a key, a hash of all that defines its result (the network's files, the
point's settings, the tool versions, the timeout: ``spec.point_key``). A finished point's
record is written to ``OUT/cache/KEY.json`` (atomically) as soon as it comes back, so a
sweep stopped by Ctrl-C, a lost worker or a crash resumes where it stopped, and a second
run with one more value builds only the new points. Failures that say something about the
design (does not fit, refused settings) are cached like successes; timeouts are not, so a
rerun with a longer timeout retries them.

Tasks run with Dask ``retries``: a point whose worker dies is rebuilt on another worker,
and each point appears once in the results whatever happened to its tasks.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from jaynes_hw import __version__
from jaynes_hw.support.cluster import as_completed, open_executor
from jaynes_hw.support.files import atomic_output, write_csv, write_json
from jaynes_hw.support.tools import tool_versions
from jaynes_hw.sweep.point import PointJob, build_point
from jaynes_hw.sweep.spec import SweepSpec, point_key

RETRIES = 2  # a task whose worker died is retried this many times on another worker
RESULT_COLUMNS = (
    "key",
    "status",
    "core",
    "scheme",
    "bits",
    "levels",
    "datapath",
    "lanes",
    "board",
    "clock_mhz",
    "seed",
    "area_field",
    "area",
    "ffs",
    "brams",
    "dsps",
    "fmax_mhz",
    "cycles_per_vector",
    "inferences_per_s",
    "accuracy",
    "simulated_vectors",
    "seconds",
    "cached",
    "reason",
)


@dataclass
class SweepResult:
    """The records of every point, in the spec's order, and what this run built."""

    records: list[dict]
    built: int = 0
    cached: int = 0
    failed: int = 0
    pareto: dict[str, list[dict]] = field(default_factory=dict)


def cache_worthy(record: dict) -> bool:
    return record["status"] == "ok" or "timed out" not in record.get("reason", "")


def run_sweep(
    spec: SweepSpec,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    executor=None,
    progress: bool | None = None,
) -> SweepResult:
    """Build every point of ``spec`` not already in ``out/cache``, on ``executor`` or else
    on ``workers`` local processes / the Dask ``scheduler`` (started only when something is
    left to build); write ``out/results.jsonl``, ``out/results.csv`` and ``out/pareto.json``;
    return the records and the Pareto fronts."""
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    tools = tool_versions() | {"jaynes-hw": __version__}
    fingerprint = spec.network_fingerprint()
    keys = [point_key(fingerprint, point, tools, spec) for point in spec.points]
    records: dict[str, dict] = {}
    for key in keys:
        cached = cache / f"{key}.json"
        try:
            records[key] = json.loads(cached.read_text()) | {"cached": True}
        except FileNotFoundError:
            pass
        except (OSError, ValueError):  # an entry edited or damaged by hand: build it again
            cached.unlink(missing_ok=True)
    to_build = [
        PointJob(
            key=key,
            settings=point.as_dict(),
            network=spec.network,
            weights=spec.weights,
            build_dir=(out / "builds" / key).resolve(),
            timeout_seconds=spec.timeout_seconds,
            test_inputs=spec.test_inputs,
            test_labels=spec.test_labels,
            simulate_vectors=spec.simulate_vectors,
        )
        for key, point in zip(keys, spec.points, strict=True)
        if key not in records
    ]
    if to_build:
        with contextlib.ExitStack() as stack:
            if executor is None:
                workers = min(workers, len(to_build))
                executor = stack.enter_context(open_executor(workers, scheduler))
            _build_points(executor, to_build, cache, records, progress)
    ordered = [records[key] for key in keys]
    with atomic_output(out / "results.jsonl") as temporary:
        temporary.write_text(
            "".join(json.dumps(record, sort_keys=True) + "\n" for record in ordered)
        )
    write_csv(
        out / "results.csv",
        RESULT_COLUMNS,
        [[record.get(column) for column in RESULT_COLUMNS] for record in ordered],
    )
    result = SweepResult(
        ordered,
        built=len(to_build),
        cached=len(keys) - len(to_build),
        failed=sum(record["status"] != "ok" for record in ordered),
        pareto=pareto_fronts(ordered),
    )
    write_json(out / "pareto.json", result.pareto)
    return result


def _build_points(
    executor, jobs: list[PointJob], cache: Path, records: dict, progress: bool | None
) -> None:
    """Submit every job, record (and cache) each result as it arrives, with a progress bar."""
    futures = [
        executor.submit(build_point, job, key=f"sweep-point-{job.key}", retries=RETRIES)
        for job in jobs
    ]
    show = sys.stderr.isatty() if progress is None else progress
    failed = 0
    with tqdm(
        total=len(jobs), desc="sweep", unit="point", disable=not show, file=sys.stderr
    ) as bar:
        for _, record, error in as_completed(executor, futures):
            if error is not None:
                raise error  # build_point turns every failure of a design into a record
            failed += record["status"] != "ok"
            if cache_worthy(record):
                write_json(cache / f"{record['key']}.json", record)
            records[record["key"]] = record | {"cached": False}
            bar.update(1)
            bar.set_postfix(failed=failed, pending=len(jobs) - bar.n)


def pareto_fronts(records: list[dict]) -> dict[str, list[dict]]:
    """Per board, the built points that no other beats on both logic area (fewer LCs/LUTs)
    and inferences/s (more), by ascending area. Block RAMs and DSPs are reported beside it,
    not weighed: a point that saves block RAM can fall off this front."""
    fronts: dict[str, list[dict]] = {}
    for board in dict.fromkeys(record["board"] for record in records):
        built = [
            record for record in records if record["board"] == board and record["status"] == "ok"
        ]
        front = [
            record
            for record in built
            if not any(
                other["area"] <= record["area"]
                and other["inferences_per_s"] >= record["inferences_per_s"]
                and (
                    other["area"] < record["area"]
                    or other["inferences_per_s"] > record["inferences_per_s"]
                )
                for other in built
            )
        ]
        if front:
            fronts[board] = sorted(front, key=lambda record: (record["area"], record["key"]))
    return fronts


def write_pareto_plot(path: Path, records: list[dict], fronts: dict[str, list[dict]]) -> Path:
    """Inferences/s against area, one panel per board, accuracy as colour (when known);
    the front joined by a line. Needs matplotlib (the ``plots`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boards = list(dict.fromkeys(record["board"] for record in records if record["status"] == "ok"))
    figure, axes_list = plt.subplots(
        1, max(len(boards), 1), figsize=(6 * max(len(boards), 1), 4.5), dpi=100, squeeze=False
    )
    for axes, board in zip(axes_list[0], boards, strict=False):
        built = [r for r in records if r["board"] == board and r["status"] == "ok"]
        colours = [r.get("accuracy") for r in built]
        scatter = axes.scatter(
            [r["area"] for r in built],
            [r["inferences_per_s"] for r in built],
            c=colours if all(c is not None for c in colours) else "#236",
            cmap="viridis",
        )
        if all(c is not None for c in colours):
            figure.colorbar(scatter, ax=axes, label="accuracy")
        front = fronts.get(board, [])
        axes.plot([r["area"] for r in front], [r["inferences_per_s"] for r in front], "-", c="#c30")
        axes.set_xlabel(built[0]["area_field"] if built else "area")
        axes.set_ylabel("inferences/s")
        axes.set_title(board)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return path


def format_front(fronts: dict[str, list[dict]]) -> str:
    """The Pareto fronts as a table, one line per point."""
    lines = []
    for board, front in fronts.items():
        area = front[0]["area_field"]
        lines.append(f"Pareto front on {board} ({area} against inferences/s):")
        lines.append(
            f"  {area:>6} {'ffs':>6} {'brams':>5} {'dsps':>4} {'Fmax MHz':>9} {'inf/s':>10} "
            f"{'acc':>6}  point"
        )
        for record in front:
            settings = " ".join(
                f"{key}={record[key]}"
                for key in ("core", "scheme", "bits", "levels", "datapath", "lanes", "seed")
                if key in record
            )
            accuracy = record.get("accuracy")
            lines.append(
                f"  {record['area']:>6} {record['ffs']:>6} {record['brams']:>5} "
                f"{record['dsps']:>4} {record['fmax_mhz']:>9.2f} {record['inferences_per_s']:>10} "
                f"{'-' if accuracy is None else format(accuracy, '.3f'):>6}  {settings}"
            )
    return "\n".join(lines)
