"""The emitted Verilog under cocotb + Verilator, judged by the numpy reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.sim.runner import SCENARIOS, simulate, simulator_available
from tests.helpers.generated_networks import SPRAM_NETWORK, generated_network
from tests.helpers.mutations import break_one_sign_flip
from tests.helpers.paths import RTL


def _check(results, convolution: bool = False):
    failures = [f"{r.scenario}: {r.message}" for r in results if not r.passed]
    assert not failures, failures
    assert [r.scenario for r in results] == list(SCENARIOS)
    figures = next(r for r in results if r.scenario == "full_rate").figures
    if convolution:  # the theory is a bound
        assert figures["ratio"] <= 1.0, figures
    elif figures["full_rate"]:
        assert figures["ratio"] == 1.0, figures
    else:  # a layer with n_in < lanes + 5 may add cycles; never fewer than the theory's
        assert figures["ratio"] >= 1.0, figures
    return results


@pytest.mark.parametrize("stem", ["digits_mlp_int8", "digits_mlp_pow2", "digits_cnn"])
def test_committed_design_passes_every_scenario(stem, tmp_path):
    convolution = stem == "digits_cnn"  # its vector period is a bound, not exact
    results = simulate(RTL / f"{stem}.json", vectors=6, seed=2, build_root=tmp_path)
    _check(results, convolution=convolution)
    full_rate = next(r for r in results if r.scenario == "full_rate").figures["full_rate"]
    assert full_rate is not convolution


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
    out = generated_network(tmp_path, MIXED_NETWORK, "mixed", [9, 7, 6, 5, 12], seed=4)
    _check(simulate(out / "mixed.json", vectors=8, seed=3, build_root=tmp_path / "build"))


UNROLLED_NETWORK = """
name = "unrolled_mix"
source = "mix.npz"
core = "lognormal"
act_bits = 8
input_scale = 0.01

[[layer]]
weight = "l1"
bias = "b1"
datapath = "unrolled"
relu = true

[[layer]]
weight = "l2"
scheme = "pow2"
bits = 3
datapath = "unrolled_serial"
relu = true

[[layer]]
weight = "l3"
bias = "b3"
lanes = 2
datapath = "shared"
relu = true

[[layer]]
weight = "l4"
scheme = "lns"
bits = 5
datapath = "unrolled"
out_bits = 6
"""


def test_unrolled_layers_pass_every_scenario(tmp_path):
    """Unrolled (m6e2, bias), unrolled_serial (pow2, vectors straight from the first),
    folded (through a serializer) and unrolled (lns, through a collector, 6-bit out): all
    scenarios on the Verilog, retune mid-stream and extremes included."""
    out = generated_network(tmp_path, UNROLLED_NETWORK, "mix", [10, 9, 7, 5, 12], seed=8)
    manifest = json.loads((out / "unrolled_mix.json").read_text())
    datapaths = [layer["config"]["datapath"] for layer in manifest["layers"]]
    assert datapaths == ["unrolled", "unrolled_serial", "shared", "unrolled"]
    assert [layer["config"]["codes_writable"] for layer in manifest["layers"]] == [
        False, False, True, False,
    ]  # fmt: skip
    _check(simulate(out / "unrolled_mix.json", vectors=8, seed=5, build_root=tmp_path / "build"))


def test_codes_in_spram_are_loaded_at_start_and_pass_every_scenario(tmp_path):
    """Two layers whose codes no bitstream loads: the benches write them after reset (the
    manifest says so), then every scenario and a bulk stream judge the Verilog."""
    from jaynes_hw.sim.bulk import bulk_stream

    out = generated_network(tmp_path, SPRAM_NETWORK, "mix", [10, 9, 7, 5, 12], seed=9)
    manifest = json.loads((out / "spram_mix.json").read_text())
    loaded = [layer["config"]["codes_loaded_at_start"] for layer in manifest["layers"]]
    assert loaded == [True, True, False]
    _check(simulate(out / "spram_mix.json", vectors=6, seed=2, build_root=tmp_path / "build"))
    result = bulk_stream(out / "spram_mix.json", 40, seed=3, build_root=tmp_path / "bulk")
    assert result.passed, result.message


CONV_NETWORK = """
name = "conv_mix"
source = "conv.npz"
act_bits = 8
input_scale = 0.01

[[layer]]  # 8x8x1 -> 8x8x4 -> 4x4x4
weight = "conv1"
bias = "b1"
lanes = 2
relu = true
conv = { height = 8, width = 8, channels = 1, kernel = 3, padding = 1 }
pool = { kind = "max", size = 2 }

[[layer]]  # 4x4x4 -> 2x2x6 -> 1x1x6
weight = "conv2"
lanes = 3
relu = true
conv = { height = 4, width = 4, channels = 4, kernel = [3, 3] }
pool = { kind = "average", size = [2, 2] }

[[layer]]  # 6 -> 3
weight = "fc"
bias = "b3"
lanes = 3
"""


@pytest.mark.parametrize("core", ["lognormal", "int8"])
def test_convolution_layers_pass_every_scenario(tmp_path, core):
    """Two convolutions (padded, max pool; valid, global average pool) and a dense layer:
    every scenario on the Verilog, images judged whole by the reference (a retune lands
    between images, never between the positions of one), and a bulk stream."""
    from jaynes_hw.sim.bulk import bulk_stream

    rng = np.random.default_rng(12)
    arrays = {
        "conv1": rng.normal(0, 0.3, (4, 1, 3, 3)),
        "conv2": rng.normal(0, 0.2, (6, 4, 3, 3)),
        "fc": rng.normal(0, 0.3, (3, 6)),
        "b1": rng.normal(0, 0.05, 4),
        "b3": rng.normal(0, 0.05, 3),
    }
    np.savez(tmp_path / "conv.npz", **{k: v.astype(np.float32) for k, v in arrays.items()})
    (tmp_path / "conv.toml").write_text(CONV_NETWORK)
    out = tmp_path / "rtl"
    command = ["generate", "--config", str(tmp_path / "conv.toml"), "--out", str(out)]
    assert main([*command, "--core", core, "--name", "conv_mix"]) == 0
    manifest = json.loads((out / "conv_mix.json").read_text())
    assert [layer.get("convolution") is not None for layer in manifest["layers"]] == [
        True, True, False,
    ]  # fmt: skip
    assert [layer["config"]["n_in"] for layer in manifest["layers"]] == [9, 36, 6]
    results = simulate(out / "conv_mix.json", vectors=6, seed=4, build_root=tmp_path / "build")
    _check(results, convolution=True)
    result = bulk_stream(out / "conv_mix.json", 30, seed=5, build_root=tmp_path / "bulk")
    assert result.passed, result.message


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
