"""One design point of a sweep, built on a worker: generate, simulate, synthesize, score.

``build_point(job)`` is the task: it quantizes and generates the network with the point's
settings, optionally streams random vectors through its Verilog against the reference
(``simulate_vectors``, the bulk harness on Verilator), builds it for the point's board with
the YoWASP flow, and returns one result
record (JSON-safe). A point that cannot be built (does not fit, needs more DSPs than the
device has, a setting the generator refuses, a timeout) is a record with ``status =
"failed"`` and the one-line reason, never an exception: one bad point does not stop a sweep.
Only the bitstream, the report and the generated design are kept in the point's build
directory (the netlists, tens of MB, are deleted).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jaynes_hw.boards.definitions import board_named
from jaynes_hw.contract.codebook import LevelFormat
from jaynes_hw.contract.design import Design
from jaynes_hw.generate import build_plan, plan_generation, render
from jaynes_hw.generate.config import GenerationPlan
from jaynes_hw.sim.bulk import bulk_stream
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import load_npy, write_text_files
from jaynes_hw.synth.compare import describe
from jaynes_hw.synth.flow import synthesize
from jaynes_hw.synth.reports import area_field

# what a build leaves that is worth keeping (the rest are netlists and placements)
INTERMEDIATES = ("top.json", "top.asc", "top.config")


@dataclass(frozen=True)
class PointJob:
    """Everything a worker needs to build one point (paths must be visible to it)."""

    key: str
    settings: dict
    network: Path | None
    weights: Path | None
    build_dir: Path
    timeout_seconds: float
    test_inputs: Path | None = None
    test_labels: Path | None = None
    simulate_vectors: int = 0


def point_plan(job: PointJob) -> GenerationPlan:
    """The generation plan of the network with the point's settings applied to every layer."""
    settings = job.settings
    plan = plan_generation(job.network, job.weights, settings.get("core"), settings.get("scheme"))
    request = plan.request
    network_changes, layer_changes = {}, {}
    if "bits" in settings:
        network_changes["bits"], layer_changes["bits"] = settings["bits"], None
    if "levels" in settings:
        level_format = LevelFormat.parse(settings["levels"])
        network_changes["levels"], layer_changes["levels"] = level_format, None
    if "datapath" in settings:
        network_changes["datapath"], layer_changes["datapath"] = settings["datapath"], None
    if "scheme" in settings:
        layer_changes["scheme"] = None
    if "lanes" in settings:
        layer_changes["lanes"] = settings["lanes"]
    layers = tuple(replace(layer, **layer_changes) for layer in request.layers)
    request = replace(request, layers=layers, **network_changes)
    return replace(plan, request=request, name="point")


def build_point(job: PointJob) -> dict:
    """Task: build one point; returns its result record (see the module docstring)."""
    started = time.monotonic()
    record = {"key": job.key, **job.settings}
    try:
        record |= _build(job)
        record["status"] = "ok"
    except UserError as error:
        record |= {"status": "failed", "reason": str(error)}
    record["seconds"] = round(time.monotonic() - started, 1)
    return record


def _build(job: PointJob) -> dict:
    settings = job.settings
    plan = point_plan(job)
    layers = build_plan(plan)
    job.build_dir.mkdir(parents=True, exist_ok=True)
    written = write_text_files(job.build_dir, render(plan.name, layers, plan.provenance))
    manifest = next(path for path in written if path.name == f"{plan.name}.json")
    if job.simulate_vectors:
        simulated = bulk_stream(
            manifest, job.simulate_vectors, build_root=job.build_dir / "sim_build"
        )
        shutil.rmtree(job.build_dir / "sim_build", ignore_errors=True)
        if not simulated.passed:
            raise UserError(f"simulation: {simulated.message}")
    report = synthesize(
        settings["board"],
        manifest,
        job.build_dir / "build",
        clock_mhz=settings.get("clock_mhz") or board_named(settings["board"]).fmax_target_mhz,
        seeds=(settings.get("seed", 1),),
        timeout_seconds=job.timeout_seconds,
    )
    for name in INTERMEDIATES:
        (job.build_dir / "build" / name).unlink(missing_ok=True)
    described = describe(layers, report)
    area = area_field(board_named(settings["board"]))
    result = {
        "area_field": area,
        "area": described[area],
        "ffs": described["ffs"],
        "brams": described["brams"],
        "dsps": described["dsps"],
        "fmax_mhz": described["fmax_mhz"],
        "cycles_per_vector": described["cycles_per_vector"],
        "inferences_per_s": described["vectors_per_s"],
        "macs_per_s": described["macs_per_s"],
        "simulated_vectors": job.simulate_vectors,
        "build_dir": str(job.build_dir),
        "bitstream": str(job.build_dir / "build" / report["bitstream"]),
    }
    if job.test_inputs is not None:
        result["accuracy"] = reference_accuracy(manifest, job.test_inputs, job.test_labels)
    return result


def reference_accuracy(manifest: Path, inputs_path: Path, labels_path: Path) -> float:
    """Top-1 accuracy of the generated design on integer test inputs, through the
    bit-exact reference (what the hardware computes)."""
    inputs = load_npy(inputs_path)
    labels = load_npy(labels_path)
    if inputs.ndim != 2 or labels.shape != (inputs.shape[0],):
        raise UserError(
            f"test data: inputs must be (N, n_in) and labels (N,), not {inputs.shape} "
            f"and {labels.shape}"
        )
    outputs = Design.from_manifest(manifest).forward(inputs)
    return float(np.mean(np.argmax(outputs, axis=1) == labels))
