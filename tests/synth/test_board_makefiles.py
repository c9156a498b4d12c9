"""``boards/<board>/``: the committed pin constraints are the platform's, the Makefiles run
exactly ``flow_commands``, and a real ``make`` build gives the bitstream ``jaynes-hw synth``
gives for the same design."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig

import pytest

from jaynes_hw.boards.definitions import BOARDS, board_named
from jaynes_hw.boards.export import board_files, constraints
from jaynes_hw.boards.top import NetworkInstance
from jaynes_hw.contract.manifest import Manifest
from jaynes_hw.generate import render
from jaynes_hw.support.files import write_text_files
from jaynes_hw.synth.compare import compare_layers
from jaynes_hw.synth.flow import flow_commands, synthesize
from tests.helpers.paths import REPOSITORY, RTL

CONSTRAINT_FILES = {"icebreaker": "icebreaker.pcf", "ulx3s": "ulx3s.lpf"}
TOOLS = ("YOSYS", "NEXTPNR_ICE40", "ICEPACK", "NEXTPNR_ECP5", "ECPPACK")
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _make(*arguments: str, board: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    return subprocess.run(
        ["make", "-C", str(REPOSITORY / "boards" / board), *arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_board_has_a_folder_with_its_constraints():
    assert set(CONSTRAINT_FILES) == set(BOARDS)
    for board, file_name in CONSTRAINT_FILES.items():
        folder = REPOSITORY / "boards" / board
        assert (folder / "Makefile").exists() and (folder / "README.md").exists()
        committed = (folder / file_name).read_text()
        assert committed == constraints(board_named(board)), (
            f"boards/{board}/{file_name} is stale: python -m jaynes_hw.boards.export "
            f"--board {board} --constraints > boards/{board}/{file_name}"
        )


@pytest.mark.parametrize("board", list(BOARDS))
@pytest.mark.parametrize("seed, dsp", [(1, True), (7, False)])
def test_the_makefile_runs_the_flows_commands(board, seed, dsp, tmp_path):
    build = tmp_path / "build"
    tools = [f"{tool}={tool}" for tool in TOOLS]
    result = _make("-n", f"BUILD={build}", f"SEED={seed}", f"DSP={int(dsp)}", *tools, board=board)
    assert result.returncode == 0, result.stderr
    prefix = f"cd {build} && "
    ran = [shlex.split(line[len(prefix) :]) for line in result.stdout.splitlines()
           if line.startswith(prefix)]  # fmt: skip
    expected = [
        [c.tool, *c.arguments] for c in flow_commands(board_named(board), seed=seed, dsp=dsp)
    ]
    assert ran == expected


def test_a_make_build_is_the_synth_commands_build(tmp_path):
    """The small pow2 layer of the smoke baseline, built by make and by the Python flow at
    one clock: the same bitstream, byte for byte."""
    layers = compare_layers((16, 8), 2, 4, "pow2")["lognormal"]
    written = write_text_files(tmp_path / "rtl", render("smoke", layers, {"test": "make"}))
    verilog = next(path for path in written if path.suffix == ".v")
    make_build = tmp_path / "make"
    result = _make(f"RTL={verilog}", f"BUILD={make_build}", "CLOCK_MHZ=40", board="icebreaker")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = synthesize(
        "icebreaker", verilog.with_suffix(".json"), tmp_path / "python", clock_mhz=40
    )
    made = (tmp_path / "make" / "top.bin").read_bytes()
    assert made == (tmp_path / "python" / report["bitstream"]).read_bytes()
    assert (tmp_path / "make" / "top.v").read_text() == (tmp_path / "python" / "top.v").read_text()


@pytest.mark.parametrize("board", list(BOARDS))
def test_the_board_top_instantiates_the_generated_network(board):
    manifest = Manifest.read(RTL / "digits_mlp.json")
    files = board_files(board_named(board), NetworkInstance(manifest))
    assert set(files) == {"top.v", board_named(board).constraints_file}
    top = files["top.v"]
    assert "module top(" in top and "digits_mlp network (" in top
    for port in manifest.ports:
        assert f".{port['name']}(" in top, port["name"]
