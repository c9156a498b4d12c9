"""The emitted Verilog under cocotb + Verilator, judged by the numpy reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.sim.runner import SCENARIOS, simulate, simulator_available
from tests.helpers.mutations import break_one_sign_flip
from tests.helpers.paths import RTL


def _check(results):
    failures = [f"{r.scenario}: {r.message}" for r in results if not r.passed]
    assert not failures, failures
    assert [r.scenario for r in results] == list(SCENARIOS)
    figures = next(r for r in results if r.scenario == "full_rate").figures
    if figures["full_rate"]:
        assert figures["ratio"] == 1.0, figures
    else:  # a layer with n_in < lanes + 5 may add cycles; never fewer than the theory's
        assert figures["ratio"] >= 1.0, figures
    return results


@pytest.mark.parametrize("stem", ["digits_mlp_int8", "digits_mlp_pow2"])
def test_committed_design_passes_every_scenario(stem, tmp_path):
    results = _check(simulate(RTL / f"{stem}.json", vectors=6, seed=2, build_root=tmp_path))
    assert next(r for r in results if r.scenario == "full_rate").figures["full_rate"]


def test_sim_command_on_the_default_design(tmp_path, capsys):
    """`jaynes-hw sim` with no design option generates the default and runs everything."""
    assert main(["sim", "--build-dir", str(tmp_path), "--vectors", "6"]) == 0
    out = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert f"  {scenario}" in out
    assert "520 cycles/vector (theory 520, ratio 1.000)" in out
    assert "FAIL" not in out and out.rstrip().endswith("PASS")
    generated = (tmp_path / "generated" / "digits_mlp.v").read_text()
    assert generated == (RTL / "digits_mlp.v").read_text()


MIXED_NETWORK = """
name = "mixed"
source = "mixed.npz"
core = "lognormal"
act_bits = 8
input_scale = 0.01

[[layer]]
weight = "l1"
bias = "b1"
scheme = "lognormal"
bits = 4
lanes = 1
relu = true

[[layer]]
weight = "l2"
scheme = "pow2"
bits = 3
lanes = 2
relu = true

[[layer]]
weight = "l3"
bias = "b3"
scheme = "lns"
bits = 5
lanes = 4
relu = false
out_bits = 6

[[layer]]
weight = "l4"
scheme = "int"
bits = 4
lanes = 5
relu = false
"""


def test_fresh_network_with_every_scheme_and_lane_count(tmp_path):
    """Generated here: lognormal (1 lane), pow2 (2), lns (4), int (lanes = n_out), with
    biases, ReLU and a 6-bit layer; all scenarios on its Verilog."""
    rng = np.random.default_rng(4)
    shapes = {"l1": (9, 12), "l2": (7, 9), "l3": (6, 7), "l4": (5, 6)}
    arrays = {
        name: (np.exp(rng.normal(-2.5, 1.0, shape)) * rng.choice([-1, 1], shape)).astype(np.float32)
        for name, shape in shapes.items()
    }
    arrays["b1"] = rng.normal(0, 0.05, 9).astype(np.float32)
    arrays["b3"] = rng.normal(0, 0.05, 6).astype(np.float32)
    np.savez(tmp_path / "mixed.npz", **arrays)
    (tmp_path / "mixed.toml").write_text(MIXED_NETWORK)
    out = tmp_path / "rtl"
    assert main(["generate", "--config", str(tmp_path / "mixed.toml"), "--out", str(out)]) == 0
    _check(simulate(out / "mixed.json", vectors=8, seed=3, build_root=tmp_path / "build"))


def test_an_edited_verilog_file_is_caught(tmp_path, capsys):
    """--rtl simulates the Verilog as it is: break one sign flip and the scoreboard fails."""
    for path in RTL.glob("digits_mlp.*"):
        shutil.copy(path, tmp_path / path.name)
    verilog = tmp_path / "digits_mlp.v"
    verilog.write_text(break_one_sign_flip(verilog.read_text()))
    status = main(["sim", "--rtl", str(tmp_path), "--scenarios", "random_stream",
                   "--build-dir", str(tmp_path / "build"), "--vectors", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    assert "random_stream      FAIL" in out and "mismatches" in out


def test_sim_refuses_a_directory_without_manifests(tmp_path, capsys):
    assert main(["sim", "--rtl", str(tmp_path)]) == 1
    assert "no generator manifest" in capsys.readouterr().err


@pytest.mark.skipif(
    not simulator_available("icarus"),
    reason="Icarus Verilog is not installed (apt-get install iverilog); Verilator covers it",
)
def test_icarus_agrees(tmp_path):
    results = simulate(
        RTL / "digits_mlp_int8.json",
        scenarios=("random_stream", "retune_mid_stream"),
        vectors=3,
        simulator="icarus",
        build_root=tmp_path,
    )
    assert all(r.passed for r in results), [r.message for r in results]


def test_waves_are_written_and_named(tmp_path, capsys):
    """--waves: each scenario's waveform is written and its path printed under its line."""
    for path in RTL.glob("digits_mlp_pow2.*"):
        shutil.copy(path, tmp_path / path.name)
    status = main(["sim", "--rtl", str(tmp_path), "--scenarios", "registers,full_rate", "--waves",
                   "--build-dir", str(tmp_path / "build"), "--vectors", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    named = [Path(line.split("waves: ", 1)[1]) for line in out.splitlines() if "waves: " in line]
    assert [path.parent.name for path in named] == ["registers", "full_rate"]
    for path in named:
        text = path.read_text()
        assert "$enddefinitions" in text and "y__valid" in text  # a VCD of the design's ports
