"""`jaynes-hw quantize`: table, JSON schema, the quantized file, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaynes_hw.cli import main
from jaynes_hw.quantize.archive import load_quantized


def test_quantize_writes_codes_and_the_comparison(tmp_path, model_file, capsys):
    out, report = tmp_path / "q.npz", tmp_path / "q.json"
    assert (
        main(
            [
                "quantize",
                str(model_file),
                "--bits",
                "4",
                "--scheme",
                "lognormal",
                "--compare",
                "int,nf4,pow2,lns",
                "--out",
                str(out),
                "--json",
                str(report),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "fc1.weight" in table and "nf4" in table
    document = json.loads(report.read_text())
    assert document["bits"] == 4 and document["scheme"] == "lognormal"
    layer = document["layers"][0]
    assert set(layer["sqnr_db"]) == {"lognormal", "int", "nf4", "pow2", "lns"}
    assert {"name", "shape", "sqnr_db"} <= set(layer)
    assert set(document["summary"]["sqnr_db"]) == set(layer["sqnr_db"])
    meta, layers = load_quantized(out)
    assert [q.name for q in layers] == ["fc1.weight", "fc2.weight"]
    assert meta["layers"][0]["sqnr_db"] == pytest.approx(layer["sqnr_db"]["lognormal"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--bits", "9"], "bits must be an integer from 2 to 8"),
        (["--bits", "8", "--scheme", "pow2"], "pow2 codebooks support at most 6 bits"),
        (["--min-size", "100000000"], "no layer with at least"),
    ],
)
def test_bad_options_exit_1_without_output(tmp_path, model_file, capsys, arguments, message):
    out = tmp_path / "q.npz"
    assert main(["quantize", str(model_file), "--out", str(out), *arguments]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_unknown_compare_scheme_is_a_usage_error(model_file):
    with pytest.raises(SystemExit) as exit_info:
        main(["quantize", str(model_file), "--compare", "int,fp4"])
    assert exit_info.value.code == 2


def test_nonfinite_layer_is_skipped(tmp_path, capsys):
    path = tmp_path / "m.npz"
    bad = np.ones((100, 200), np.float32)
    bad[0, 0] = np.nan
    good = np.random.default_rng(0).standard_normal((100, 200)).astype(np.float32)
    np.savez(path, bad=bad, good=good)
    assert main(["quantize", str(path)]) == 0
    assert "skipped bad: the layer has non-finite weights" in capsys.readouterr().err


@pytest.mark.parametrize(("scale_bits", "scale_storage"), [("8", 8), ("0", 32)])
def test_per_channel_bits_per_weight_count_the_scales(
    tmp_path, model_file, small_model, scale_bits, scale_storage
):
    """Codes plus a scale per output row (a register, or a float32 without --scale-bits),
    for the hardware schemes; NF4's own block scales stay what they were."""
    report = tmp_path / "q.json"
    arguments = ["quantize", str(model_file), "--per-channel", "--scale-bits", scale_bits]
    arguments += ["--compare", "pow2,nf4", "--json", str(report)]
    assert main(arguments) == 0
    summary = json.loads(report.read_text())["summary"]["bits_per_weight"]
    weights = [small_model[name] for name in ("fc1.weight", "fc2.weight")]
    rows, count = sum(w.shape[0] for w in weights), sum(w.size for w in weights)
    assert summary["lognormal"] == pytest.approx(4 + scale_storage * rows / count)
    assert summary["pow2"] == summary["lognormal"]
    assert summary["nf4"] == 4.0
