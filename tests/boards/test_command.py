"""``jaynes-hw run`` end to end, its board simulated bit by bit behind a UART model."""

from __future__ import annotations

import argparse
import json

import numpy as np

from jaynes_hw.boards.command import run
from jaynes_hw.boards.simulated_uart import SimulatedSerial
from jaynes_hw.generate import build_network, build_plan, generate, plan_generation
from tests.helpers.boards import simulated_top


def test_run_command_checks_the_board_against_the_manifest(tmp_path, capsys):
    """`jaynes-hw run` on the default network: every output matches; then a manifest that
    disagrees with the board is caught."""
    plan = plan_generation()
    written = generate(plan, tmp_path)
    manifest = next(path for path in written if path.suffix == ".json")
    network = build_network(build_plan(plan))

    def simulated_board():
        return SimulatedSerial(simulated_top(network))

    args = argparse.Namespace(port="sim", manifest=manifest, inputs=None, vectors=2, seed=4,
                              out=tmp_path / "y.npy", self_test=3, clock_mhz=12.0)  # fmt: skip
    assert run(args, port=simulated_board()) == 0
    out = capsys.readouterr().out
    assert "every output matches the reference" in out
    assert np.load(tmp_path / "y.npy").shape == (2, 10)
    # the self-test: 3 passes of the 2 vectors, on the board, the checksum the reference's
    assert "self-test on the board: 6 vectors in " in out
    assert "inferences/s at 12 MHz" in out and "the checksum matches the reference" in out

    # A manifest whose shift differs from the board's: the outputs no longer match.
    document = json.loads(manifest.read_text())
    document["layers"][1]["shift"] += 2
    manifest.write_text(json.dumps(document))
    network = build_network(build_plan(plan))
    assert run(args, port=simulated_board()) == 1
    out = capsys.readouterr().out
    assert "2 differ" in out and "the checksum DIFFERS" in out


SPRAM_TOML = """
name = "spram_run"
source = "layer.npz"
act_bits = 8
input_scale = 0.01

[[layer]]
weight = "w1"
lanes = 2
code_memory = "spram"
relu = true

[[layer]]
weight = "w2"
lanes = 2
"""


def test_run_loads_codes_kept_in_spram_before_streaming(tmp_path, capsys):
    """A layer whose codes no bitstream loads: `jaynes-hw run` writes them over the link
    first, then every output matches (``test_code_memory``: unloaded, the SPRAM model holds
    zeros)."""
    rng = np.random.default_rng(6)
    np.savez(tmp_path / "layer.npz", w1=rng.normal(0, 0.2, (6, 5)), w2=rng.normal(0, 0.2, (3, 6)))
    (tmp_path / "spram_run.toml").write_text(SPRAM_TOML)
    plan = plan_generation(config=tmp_path / "spram_run.toml")
    written = generate(plan, tmp_path / "rtl")
    manifest = next(path for path in written if path.suffix == ".json")
    network = build_network(build_plan(plan))
    args = argparse.Namespace(port="sim", manifest=manifest, inputs=None, vectors=3, seed=2,
                              out=None, self_test=None, clock_mhz=None)  # fmt: skip
    assert run(args, port=SimulatedSerial(simulated_top(network))) == 0
    out = capsys.readouterr().out
    # 6 outputs on 2 lanes: 3 passes of 5 inputs, one packed write a row of 2 codes
    assert "loaded 30 codes into SPRAM in 15 writes" in out
    assert "every output matches the reference" in out
