"""``jaynes-hw run`` end to end, its board simulated bit by bit behind a UART model."""

from __future__ import annotations

import argparse
import json

import numpy as np

from jaynes_hw.boards.command import run
from jaynes_hw.boards.simulated_uart import SimulatedSerial
from jaynes_hw.boards.top import BoardTop
from jaynes_hw.generate import build_network, build_plan, generate, plan_generation

CYCLES_PER_BIT = 8


def test_run_command_checks_the_board_against_the_manifest(tmp_path, capsys):
    """`jaynes-hw run` on the default network: every output matches; then a manifest that
    disagrees with the board is caught."""
    plan = plan_generation()
    written = generate(plan, tmp_path)
    manifest = next(path for path in written if path.suffix == ".json")
    network = build_network(build_plan(plan))

    def simulated_board():
        return SimulatedSerial(BoardTop(network, CYCLES_PER_BIT * 115_200, 115_200))

    args = argparse.Namespace(
        port="sim", manifest=manifest, inputs=None, vectors=2, seed=4, out=tmp_path / "y.npy"
    )
    assert run(args, port=simulated_board()) == 0
    assert "every output matches the reference" in capsys.readouterr().out
    assert np.load(tmp_path / "y.npy").shape == (2, 10)

    # A manifest whose shift differs from the board's: the outputs no longer match.
    document = json.loads(manifest.read_text())
    document["layers"][1]["shift"] += 2
    manifest.write_text(json.dumps(document))
    network = build_network(build_plan(plan))
    assert run(args, port=simulated_board()) == 1
    assert "differ" in capsys.readouterr().out
