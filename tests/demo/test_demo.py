"""`jaynes-hw demo`: the digits network end to end, and the pieces it is made of."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.contract.design import Design
from jaynes_hw.contract.registers import REG_CONTROL
from jaynes_hw.demo.command import erased
from tests.helpers.paths import BASELINES, RTL

# the default network: layer 0 makes 8 passes of 64 beats and an idle cycle each
DEFAULT_PERIOD = 8 * (64 + 1)

pytest.importorskip("sklearn", reason="the demo's dataset ships with scikit-learn (.[demo])")

REQUIRED_KEYS = {
    "dataset",
    "samples",
    "hardware_matches_reference",
    "accuracy",
    "retune",
    "inferences_per_second",
    "seconds",
}


def test_demo_end_to_end(tmp_path, capsys):
    """The whole run (Verilator included; the FPGA build is replaced by a given Fmax)."""
    report = tmp_path / "demo.json"
    status = main(["demo", "--fmax-mhz", "30", "--out", str(tmp_path / "work"),
                   "--json", str(report)])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(report.read_text())
    assert REQUIRED_KEYS <= set(result)
    assert set(result["accuracy"]) == {"float", "lognormal_hw", "int8", "int4"}
    assert {"before", "after", "registers_written"} <= set(result["retune"])
    assert result["samples"] == 450
    assert result["hardware_matches_reference"] is True
    assert result["phases_matching_reference"] == [True] * 5
    accuracy = result["accuracy"]
    assert accuracy["float"] > 0.95
    assert abs(accuracy["lognormal_hw"] - accuracy["float"]) <= 0.02  # the figure
    retune = result["retune"]
    assert retune["before"] == accuracy["lognormal_hw"]
    assert retune["registers_written"] == 2 * (8 + 1)  # K levels and a commit per layer
    erased_run = retune["from_erased"]
    assert erased_run["after"] >= erased_run["erased"] + 0.10, erased_run
    assert abs(erased_run["after"] - accuracy["float"]) <= 0.02
    # two numbers per layer, the lognormal's (mu, sigma), from the erased start
    assert erased_run["lognormal_parameters"] == 4
    assert erased_run["lognormal_only"] >= erased_run["erased"] + 0.10, erased_run
    codebooks = retune["codebooks"]
    assert all(len(set(levels)) == 1 for levels in codebooks["erased"])
    assert codebooks["fitted"] != codebooks["generated"]
    board = result["board"]
    assert board["name"] == "icebreaker"
    assert board["cycles_per_inference"] == DEFAULT_PERIOD  # measured; the manifest's period
    assert result["inferences_per_second"] == pytest.approx(30e6 / DEFAULT_PERIOD)
    assert board["clock_mhz"] == 30 and board["timing_met"] is None
    # 3 Mbaud, 10 bits a byte: 300,000 bytes/s for 64 bytes in and 10 out an image, and a
    # few bytes of framing a batch
    assert board["baud"] == 3_000_000
    assert 0.95 * 300_000 / 74 < result["link_inferences_per_second"] < 300_000 / 74
    assert result["board_inferences_per_second"] == result["link_inferences_per_second"]
    assert "bit-exact" in out and "inferences/s for the core" in out and "3,000,000 baud" in out
    # the work directory holds what the generator writes, ready for `jaynes-hw sim --rtl`
    assert (tmp_path / "work" / "rtl" / "digits_mlp.json").exists()


def test_cnn_demo_end_to_end(tmp_path, capsys):
    """`demo --cnn`: the PyTorch CNN through ONNX, every test image through Verilator under
    five codebooks, each output bit-exact; the 4-bit network as generated and after the
    codebook fit within 2 points of the float one."""
    pytest.importorskip("onnx", reason="the CNN ships as ONNX (.[onnx])")
    report = tmp_path / "cnn.json"
    status = main(["demo", "--cnn", "--fmax-mhz", "30", "--out", str(tmp_path / "work"),
                   "--json", str(report)])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(report.read_text())
    assert result["network"] == (
        "8x8x1 -> conv 3x3, max pool 2x2 -> 4x4x8 -> conv 3x3 -> 2x2x16 -> 10"
    )
    assert result["phases_matching_reference"] == [True] * 5
    accuracy, retune = result["accuracy"], result["retune"]
    assert accuracy["float"] > 0.95
    # channel scales on the convolutions: as generated, within 2 points of float already
    assert abs(accuracy["lognormal_hw"] - accuracy["float"]) <= 0.02, accuracy
    assert retune["registers_written"] == 3 * (8 + 1)
    assert abs(retune["after"] - accuracy["float"]) <= 0.02, (retune, accuracy)
    erased_run = retune["from_erased"]
    assert erased_run["lognormal_only"] >= erased_run["erased"] + 0.10, erased_run
    assert abs(erased_run["after"] - accuracy["float"]) <= 0.02
    board = result["board"]
    assert board["name"] == "icebreaker"
    assert 0 < board["cycles_per_inference"] <= board["cycles_per_inference_bound"]
    assert "bit-exact" in out and "conv 3x3" in out


def test_erased_keeps_the_codes_and_writes_one_level_per_layer():
    design = Design.from_manifest(RTL / "digits_mlp.json")
    flat = erased(design)
    writes = flat.codebook_writes()
    for before, after in zip(design.layers, flat.layers, strict=True):
        np.testing.assert_array_equal(before.stored, after.stored)
        assert len(set(after.levels.tolist())) == 1
        # the one level is the layer's mean level over its connections (register-rounded)
        mean = np.mean(np.abs(before.weights()))
        assert after.levels[0] == pytest.approx(mean, rel=1 / 32)
        driver = after.driver
        expected = driver.level_writes(after.mantissas, after.exponents)
        expected += [(driver.base + REG_CONTROL, 1)]
        assert all(write in writes for write in expected)
    assert len(writes) == 2 * 9


def test_demo_without_scikit_learn_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["demo", "--fmax-mhz", "30", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'jaynes-hw[demo]'" in err


def test_demo_refuses_a_file_as_its_work_directory(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert main(["demo", "--fmax-mhz", "30", "--out", str(tmp_path / "taken")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("not a directory") and len(err.splitlines()) == 1


def test_demo_refuses_a_bad_fmax_before_any_work(tmp_path, capsys):
    assert main(["demo", "--fmax-mhz", "-3", "--out", str(tmp_path / "work")]) == 1
    assert "--fmax-mhz must be positive" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.fpga
def test_demo_with_the_icebreaker_build(tmp_path):
    """Without --fmax-mhz the demo places and routes the network; its Fmax is the committed
    baseline's for the default network (same tolerance as tests/synth/test_flow.py)."""
    from tests.helpers.synth_baselines import TOLERANCES

    report = tmp_path / "demo.json"
    assert main(["demo", "--out", str(tmp_path / "work"), "--json", str(report)]) == 0
    result = json.loads(report.read_text())
    board = result["board"]
    assert board["fmax_source"] == "synthesized"
    baseline = json.loads(BASELINES.read_text())["builds"]["digits_icebreaker"]["fmax_mhz"]
    assert board["fmax_mhz"] == pytest.approx(baseline, rel=TOLERANCES["fmax_mhz"])
    assert board["timing_met"] and 0.9 * board["fmax_mhz"] <= board["clock_mhz"]
    assert result["inferences_per_second"] == pytest.approx(
        board["clock_mhz"] * 1e6 / DEFAULT_PERIOD
    )
