"""``python -m jaynes_hw.generate``: its default run, a quantized file as input, and
``jaynes-hw generate`` as the same command."""

from __future__ import annotations

import json
import subprocess
import sys

from jaynes_hw.generate.command import main
from jaynes_hw.quantize import quantize_layer
from tests.helpers.paths import RTL
from tests.helpers.populations import lognormal_weights
from tests.helpers.quantized_files import chain_file


def test_default_run_writes_rtl_in_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "generated digits_mlp: 2 lognormal layers (64 -> 32 -> 10)" in out
    written = sorted(path.name for path in (tmp_path / "rtl").iterdir())
    for name in written:
        assert f"wrote rtl/{name}" in out
    assert "digits_mlp.v" in written and "digits_mlp.json" in written


def test_weights_file_keeps_its_codes_and_codebooks(tmp_path, capsys):
    weights = chain_file(tmp_path)
    assert main(["--weights", str(weights), "--out", str(tmp_path / "out")]) == 0
    assert "generated chain: 2 lognormal layers (12 -> 8 -> 5)" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "out" / "chain.json").read_text())
    first = quantize_layer("a", lognormal_weights((8, 12), -3.0, 1.0, seed=1), "lognormal", 4)
    assert manifest["layers"][0]["codebook"]["levels"] == first.codebook.levels.tolist()
    assert [layer["config"]["relu"] for layer in manifest["layers"]] == [True, False]


def test_int8_core_from_an_int8_quantized_file(tmp_path):
    weights = chain_file(tmp_path, "int", 8)
    arguments = ["--weights", str(weights), "--core", "int8", "--out", str(tmp_path / "out")]
    assert main(arguments) == 0
    manifest = json.loads((tmp_path / "out" / "chain_int8.json").read_text())
    assert manifest["layers"][0]["config"]["kind"] == "int8"


def test_jaynes_hw_generate_is_the_same_command(tmp_path):
    from jaynes_hw.cli import main as jaynes_hw

    assert jaynes_hw(["generate", "--core", "int8", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits_mlp_int8.v").read_text() == (RTL / "digits_mlp_int8.v").read_text()


def test_python_dash_m_is_the_command(tmp_path):
    """The README's main command, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", "jaynes_hw.generate", "--scheme", "pow2", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "generated digits_mlp_pow2: 2 lognormal layers" in result.stdout
    assert (tmp_path / "digits_mlp_pow2.v").read_text() == (RTL / "digits_mlp_pow2.v").read_text()
