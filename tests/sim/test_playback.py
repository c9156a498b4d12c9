"""``runner.playback``: register writes and vectors, phase after phase, on one running
simulation of the committed default design."""

from __future__ import annotations

import re

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.contract.design import Design
from jaynes_hw.demo.command import erased
from jaynes_hw.sim.bulk import Phase, playback
from jaynes_hw.sim.runner import simulator_available
from jaynes_hw.support.errors import UserError
from tests.helpers.paths import RTL


def test_playback_applies_each_phases_writes_to_the_running_design(tmp_path):
    design = Design.from_manifest(RTL / "digits_mlp.json")
    rng = np.random.default_rng(5)
    x = design.random_inputs(rng, 4)
    flat = erased(design)
    shifted = flat.copy()
    shifted.layers[0].shift -= 1
    phases = [
        Phase([], x),
        Phase(flat.codebook_writes(), x),
        Phase(shifted.layers[0].driver.shift_writes(shifted.layers[0].shift)
              + shifted.layers[0].driver.commit_writes(), x),
    ]  # fmt: skip
    results = playback(RTL / "digits_mlp.json", phases, build_root=tmp_path)
    for result, expected in zip(results, (design, flat, shifted), strict=True):
        np.testing.assert_array_equal(result.outputs, expected.forward(x))
        assert result.cycles_per_vector == design.vector_period
    assert not np.array_equal(results[0].outputs, results[1].outputs)
    assert not np.array_equal(results[1].outputs, results[2].outputs)


def test_playback_refuses_inputs_of_the_wrong_width(tmp_path):
    with pytest.raises(UserError, match=r"phase 0: inputs must be \(vectors, 64\)"):
        playback(RTL / "digits_mlp.json", [Phase([], np.zeros((2, 63)))], build_root=tmp_path)


@pytest.mark.skipif(
    not simulator_available("icarus"),
    reason="Icarus Verilog is not installed (apt-get install iverilog); Verilator covers it",
)
def test_playback_on_icarus(tmp_path):
    design = Design.from_manifest(RTL / "digits_mlp.json")
    x = design.random_inputs(np.random.default_rng(6), 2)
    flat = erased(design)
    phases = [Phase([], x), Phase(flat.codebook_writes(), x)]
    results = playback(RTL / "digits_mlp.json", phases, simulator="icarus", build_root=tmp_path)
    for result, expected in zip(results, (design, flat), strict=True):
        np.testing.assert_array_equal(result.outputs, expected.forward(x))


def test_playback_under_stalls_is_bit_exact_and_slower(tmp_path):
    """Random idle cycles on x and back-pressure on y, decided in the Verilog harness: the
    results are still the reference's, and the vectors take longer than back to back."""
    design = Design.from_manifest(RTL / "digits_mlp.json")
    x = design.random_inputs(np.random.default_rng(7), 30)
    (steady,) = playback(RTL / "digits_mlp.json", [Phase([], x)], build_root=tmp_path)
    (stalled,) = playback(RTL / "digits_mlp.json", [Phase([], x)], build_root=tmp_path,
                          idle=0.4, backpressure=0.4)  # fmt: skip
    np.testing.assert_array_equal(stalled.outputs, design.forward(x))
    assert steady.cycles_per_vector == design.vector_period
    assert stalled.cycles > steady.cycles


@pytest.mark.parametrize("option", ["--bulk", "--vectors"])
def test_sim_command_bulk_stream(tmp_path, capsys, option):
    """`jaynes-hw sim --bulk N`, or a long run asked with `--vectors N`: N vectors through the
    harness, judged, with its rate (the scenarios run at most 64 vectors each)."""
    assert main(["sim", "--rtl", str(RTL), "--name", "digits_mlp_pow2", "--scenarios",
                 "registers", option, "300", "--build-dir", str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert re.search(r"bulk_stream +pass  300 vectors, [\d,]+ cycles in [\d.]+ s", out), out
    expected_scenario_vectors = 8 if option == "--bulk" else 64
    assert f"{expected_scenario_vectors} vectors, seed 1" in out
