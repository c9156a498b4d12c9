"""``sim/Makefile``: cocotb's own Makefile flow runs the package's scenarios on a committed
design, and fails on a broken one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig

import pytest

from jaynes_hw.sim.runner import SCENARIOS
from tests.helpers.generated_networks import SPRAM_NETWORK, generated_network
from tests.helpers.mutations import break_one_sign_flip
from tests.helpers.paths import REPOSITORY, RTL

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _make(*arguments: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    env.pop("MAKEFLAGS", None)
    return subprocess.run(
        ["make", "-C", str(REPOSITORY / "sim"), *arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_sim_runs_every_scenario_on_the_committed_design(tmp_path):
    result = _make(f"SIM_BUILD={tmp_path / 'build'}", "VECTORS=4")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = f"TESTS={len(SCENARIOS)} PASS={len(SCENARIOS)} FAIL=0"
    assert summary in result.stdout
    for scenario in SCENARIOS:
        assert f"jaynes_hw.sim.scenarios.{scenario} passed" in result.stdout


def test_make_sim_compiles_the_spram_model_for_layers_in_spram(tmp_path):
    """A design instantiating SB_SPRAM256KA: the Makefile adds the package's model, and
    every scenario passes (the benches load the codes first)."""
    out = generated_network(tmp_path, SPRAM_NETWORK, "mix", [10, 9, 7, 5, 12], seed=9)
    verilog = out / "spram_mix.v"
    assert "SB_SPRAM256KA" in verilog.read_text()
    result = _make(f"RTL={verilog}", f"SIM_BUILD={tmp_path / 'build'}", "VECTORS=3")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"TESTS={len(SCENARIOS)} PASS={len(SCENARIOS)} FAIL=0" in result.stdout


def test_make_sim_fails_on_an_edited_design(tmp_path):
    """One lane's sign flip broken in a copy of digits_mlp.v (module renamed): make exits
    non-zero."""
    for source in RTL.glob("digits_mlp.*"):
        if source.name.startswith("digits_mlp.") and source.suffix in (".v", ".json", ".hex"):
            text = source.read_text().replace("digits_mlp", "edited")
            (tmp_path / source.name.replace("digits_mlp", "edited")).write_text(text)
    verilog = tmp_path / "edited.v"
    verilog.write_text(break_one_sign_flip(verilog.read_text()))
    result = _make(f"RTL={verilog}", f"SIM_BUILD={tmp_path / 'build'}", "VECTORS=4")
    assert result.returncode != 0
    assert "mismatches" in result.stdout and "FAIL=0" not in result.stdout
