"""A broken design fails fast with one line; a stopped `jaynes-hw sim` leaves no simulator."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jaynes_hw.cli import main
from jaynes_hw.contract.design import Design
from jaynes_hw.sim.budget import BUDGET_MARGIN_CYCLES, CycleBudget
from tests.helpers.mutations import break_pass_counter
from tests.helpers.paths import RTL


def _copy_design(stem: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for path in RTL.glob(f"{stem}.*"):
        shutil.copy(path, directory / path.name)
    return directory / f"{stem}.v"


def test_a_design_that_stops_answering_fails_within_its_budget(tmp_path, capsys):
    verilog = _copy_design("digits_mlp", tmp_path / "rtl")
    verilog.write_text(break_pass_counter(verilog.read_text()))
    status = main(["sim", "--rtl", str(tmp_path / "rtl"), "--scenarios", "random_stream",
                   "--build-dir", str(tmp_path / "build"), "--vectors", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    line = next(line for line in out.splitlines() if "random_stream" in line)
    match = re.search(r"FAIL  y: (\d+) of 10 outputs of vector (\d+) after ([\d,]+) cycles, "
                      r"expected by ([\d,]+)$", line)  # fmt: skip
    assert match, line
    # the cycle budget fired (not the wall-clock backstop), at that vector's deadline
    budget = CycleBudget.of(Design.from_manifest(tmp_path / "rtl" / "digits_mlp.json"))
    vector, after, expected_by = (int(group.replace(",", "")) for group in match.groups()[1:])
    assert expected_by == budget.deadline(vector, 0.3, 0.3) and after == expected_by + 1
    # within a few vector periods of the unhindered figure (slack 2, idle and back-pressure 0.3)
    assert vector < 3 and expected_by < 5 * budget.expected(vector) + BUDGET_MARGIN_CYCLES


def test_the_budget_bounds_honest_timing(tmp_path):
    """The deadlines are later than the cycles a correct design takes (manifest figures)."""
    design = Design.from_manifest(RTL / "digits_mlp.json")
    budget = CycleBudget.of(design)
    layers = [layer.config for layer in design.layers]
    assert budget.period == max(config.cycles_per_vector for config in layers)
    honest = sum(config.cycles_per_vector + config.pipeline_latency for config in layers)
    assert budget.deadline(0) > honest and budget.deadline(5) > honest + 5 * budget.period
    assert budget.deadline(5, 0.5, 0.5) > 3 * budget.deadline(5)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_simulator_too(tmp_path):
    """SIGTERM while a scenario runs: `jaynes-hw sim` exits 143 and its simulator process is
    gone within a second (it used to live on, reparented, for minutes)."""
    verilog = _copy_design("digits_mlp_pow2", tmp_path / "rtl")
    simulation_binary = str(tmp_path / "build")
    command = [sys.executable, "-m", "jaynes_hw", "sim", "--rtl", str(verilog.parent),
               "--scenarios", "full_rate", "--vectors", "100000",
               "--build-dir", str(tmp_path / "build")]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # a simulation still running 2 s after it was seen (the scenarios' 64 vectors may
        # end sooner; the bulk stream of 100,000 vectors that follows does not)
        simulator, started = None, time.monotonic()
        while simulator is None and time.monotonic() - started < 600 and process.poll() is None:
            for child in _children(process.pid):
                arguments = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                if arguments[0].decode().startswith(simulation_binary):  # the simulation
                    time.sleep(2)
                    simulator = child if _alive(child) else None
            time.sleep(0.2)
        assert simulator is not None, f"no simulation started: {process.communicate()}"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 143, err
        assert "terminated" in err
        deadline = time.monotonic() + 1.0
        while _alive(simulator) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(simulator), "the simulator outlived jaynes-hw sim"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_the_bulk_harness_fails_a_design_that_stops_answering(tmp_path):
    """The Verilog harness checks the same budgets in Verilog: the broken pass counter fails
    with the same one line, not a hang."""
    from jaynes_hw.sim.bulk import BULK_BACKPRESSURE, BULK_IDLE, bulk_stream

    verilog = _copy_design("digits_mlp", tmp_path / "rtl")
    verilog.write_text(break_pass_counter(verilog.read_text()))
    manifest = tmp_path / "rtl" / "digits_mlp.json"
    result = bulk_stream(manifest, 200, build_root=tmp_path / "build")
    assert not result.passed
    match = re.fullmatch(r"y: (\d+) of 10 outputs of vector (\d+) after ([\d,]+) cycles, "
                         r"expected by ([\d,]+)", result.message)  # fmt: skip
    assert match, result.message
    vector, after, expected_by = (int(group.replace(",", "")) for group in match.groups()[1:])
    budget = CycleBudget.of(Design.from_manifest(manifest))
    assert expected_by == budget.deadline(vector, BULK_IDLE, BULK_BACKPRESSURE)
    assert after == expected_by + 1 and vector < 200
