"""`jaynes-hw sweep`: real iCE40 builds as tasks on a real Dask LocalCluster (two worker
processes), the cache, a worker killed mid-sweep, a point that does not fit, bad specs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.support.cluster import open_executor
from jaynes_hw.sweep.run import run_sweep
from jaynes_hw.sweep.spec import parse_spec
from tests.helpers.populations import lognormal_weights

SPEC = """\
network = "net.toml"
board = "icebreaker"
timeout_minutes = 20
test_inputs = "x.npy"
test_labels = "y.npy"
{extra}
{points}
"""
# three points that fit, one that needs 16 multipliers on a device with 8 DSP blocks
FOUR_POINTS = """\
[[point]]
core = "lognormal"
lanes = 1
[[point]]
core = "lognormal"
lanes = 2
[[point]]
core = "int8"
lanes = 1
[[point]]
core = "int8"
lanes = 16
"""


@pytest.fixture
def sweep_folder(tmp_path):
    """A 16x16 layer (float weights), its network description and labelled test data."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", **{"fc.weight": lognormal_weights((16, 16), -3.0, 0.8)})
    (tmp_path / "net.toml").write_text(
        'name = "small"\nsource = "small.npz"\n[[layer]]\nweight = "fc.weight"\nlanes = 2\n'
    )
    np.save(tmp_path / "x.npy", rng.integers(-127, 128, (40, 16)))
    np.save(tmp_path / "y.npy", rng.integers(0, 16, 40))
    return tmp_path


def _write_spec(folder, points: str, extra: str = ""):
    path = folder / "spec.toml"
    path.write_text(SPEC.format(points=points, extra=extra))
    return path


def _reference_accuracy(folder, record) -> float:
    from jaynes_hw.contract.design import Design

    design = Design.from_manifest(os.path.join(record["build_dir"], "point.json"))
    outputs = design.forward(np.load(folder / "x.npy"))
    return float(np.mean(np.argmax(outputs, axis=1) == np.load(folder / "y.npy")))


def test_a_sweep_builds_on_two_workers_and_a_rerun_builds_nothing(sweep_folder, capsys):
    spec_path = _write_spec(sweep_folder, FOUR_POINTS)
    out = sweep_folder / "out"
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "4 points: 4 built this run, 0 from the cache, 1 failed" in printed
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["core"], r["lanes"]) for r in records] == [
        ("lognormal", 1),
        ("lognormal", 2),
        ("int8", 1),
        ("int8", 16),
    ]
    failed = records[3]
    assert failed["status"] == "failed"
    assert "needs 16 DSP blocks, the icebreaker has 8" in failed["reason"]
    for record in records[:3]:
        assert record["status"] == "ok", record
        assert 0 < record["area"] <= 5280 and record["fmax_mhz"] > 10
        assert record["inferences_per_s"] == round(
            record["fmax_mhz"] * 1e6 / record["cycles_per_vector"]
        )
        assert os.path.getsize(record["bitstream"]) > 0
        assert record["accuracy"] == _reference_accuracy(sweep_folder, record)
    # two lanes take half the cycles of one
    assert records[1]["cycles_per_vector"] < records[0]["cycles_per_vector"]
    front = json.loads((out / "pareto.json").read_text())["icebreaker"]
    assert front and all(record["status"] == "ok" for record in front)
    assert "Pareto front on icebreaker" in printed

    started = time.monotonic()
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "2", "--plot"]) == 0
    assert "4 points: 0 built this run, 4 from the cache, 1 failed" in capsys.readouterr().out
    assert time.monotonic() - started < 20  # no cluster started, nothing built
    again = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["key"] for r in again] == [r["key"] for r in records]
    assert all(r["cached"] for r in again)
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")


def test_a_worker_killed_mid_sweep_loses_no_point_and_duplicates_none(sweep_folder):
    # each point also streams 16 random vectors through its Verilog before synthesis
    three_points = FOUR_POINTS.rsplit("[[point]]", 1)[0]
    spec = parse_spec(_write_spec(sweep_folder, three_points, "simulate_vectors = 16"))
    killed = []
    with open_executor(workers=2) as client:

        def kill_a_busy_worker():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                busy = [worker for worker, tasks in client.processing().items() if tasks]
                if busy:
                    time.sleep(3)  # well inside the build (about 40 s)
                    pids = client.run(os.getpid, workers=busy[:1])
                    for pid in pids.values():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                time.sleep(0.2)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        result = run_sweep(spec, sweep_folder / "out", executor=client, progress=False)
        killer.join()
    assert killed, "no worker was busy to kill"
    assert [record["status"] for record in result.records] == ["ok"] * 3
    assert all(record["simulated_vectors"] == 16 for record in result.records)
    keys = [record["key"] for record in result.records]
    assert len(set(keys)) == 3
    lines = (sweep_folder / "out" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"] for line in lines) == sorted(keys)


@pytest.mark.parametrize(
    "text, message",
    [
        ("board = 'icebreaker'\n[grid]\nlanes = [1]\ncolour = ['red']\n", "unknown key 'colour'"),
        ("board = 'icebreaker'\n", "the sweep is empty"),
        ("board = 'icebreaker'\n[grid]\nlanes = []\n", "lanes in [grid] must be a non-empty list"),
        ("[grid]\nlanes = [1]\n", "no board for point"),
        ("board = 'icebreaker'\n[grid]\nlanes = ['two']\n", "must be an integer"),
        ("[grid\n", "not valid TOML"),
        ("board = 'icebreaker'\nsimulate_vectors = -1\n[grid]\nlanes = [1]\n", "0 or more"),
        ("network = 'missing.toml'\nboard = 'icebreaker'\n[grid]\nlanes = [1]\n", "no such file"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_1(tmp_path, capsys, text, message):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and str(path) in error


def test_a_network_description_that_is_not_toml_is_one_line(tmp_path, capsys):
    (tmp_path / "net.toml").write_text("name = [unclosed\n")
    path = tmp_path / "spec.toml"
    path.write_text("network = 'net.toml'\nboard = 'icebreaker'\n[grid]\nlanes = [1]\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "net.toml: not valid TOML" in error


def test_a_missing_spec_and_an_unreachable_scheduler_are_one_line(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml")]) == 1
    assert "no such file" in capsys.readouterr().err
    path = tmp_path / "spec.toml"
    path.write_text("board = 'icebreaker'\n[grid]\nlanes = [1]\n")
    started = time.monotonic()
    status = main(
        ["sweep", str(path), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert status == 1 and time.monotonic() - started < 30
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "cannot reach the Dask scheduler" in error


def test_the_example_spec_names_four_points_and_the_demo_test_split():
    from jaynes_hw.demo.digits import integer_inputs, load_digits_split
    from tests.helpers.paths import REPOSITORY

    spec = parse_spec(REPOSITORY / "examples" / "sweep_digits.toml")
    assert [(p.as_dict()["core"], p.as_dict()["lanes"]) for p in spec.points] == [
        ("lognormal", 1),
        ("lognormal", 2),
        ("int8", 1),
        ("int8", 2),
    ]
    split = load_digits_split()
    assert np.array_equal(np.load(spec.test_inputs), integer_inputs(split.x_test))
    assert np.array_equal(np.load(spec.test_labels), split.y_test)
