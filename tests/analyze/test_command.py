"""`jaynes-hw analyze`: outputs, their schemas, and bad input handled as one line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from jaynes_hw.cli import main
from tests.helpers import writers
from tests.helpers.populations import gaussian_weights, lognormal_weights


def test_analyze_writes_table_json_csv_and_plots(tmp_path, model_file, capsys):
    out = tmp_path / "out"
    out.mkdir()
    status = main(
        [
            "analyze",
            str(model_file),
            "--json",
            str(out / "a.json"),
            "--csv",
            str(out / "a.csv"),
            "--plots",
            str(out / "plots"),
        ]
    )
    assert status == 0
    table = capsys.readouterr().out
    assert "fc1.weight" in table and "fc2.weight" in table and "fc1.bias" not in table

    document = json.loads((out / "a.json").read_text())
    assert document["source"] == str(model_file)
    layers = {layer["name"]: layer for layer in document["layers"]}
    assert set(layers) == {"fc1.weight", "fc2.weight"}
    for layer in layers.values():
        assert {
            "name",
            "shape",
            "count",
            "max_abs",
            "ignored_fraction",
            "mle",
            "size_weighted_fit",
            "null",
        } <= set(layer)
        assert {"mu", "sigma"} <= set(layer["mle"])
        assert {"A_prime", "mu_prime", "sigma_prime", "r2"} == set(layer["size_weighted_fit"])
        assert layer["null"]["verdict"] in {"lognormal", "gaussian", "neither"}
    assert layers["fc1.weight"]["shape"] == [128, 96]
    assert layers["fc1.weight"]["null"]["verdict"] == "gaussian"
    assert layers["fc2.weight"]["null"]["verdict"] == "lognormal"
    summary = document["summary"]
    assert summary["layers"] == 2 and summary["weights"] == 2 * 128 * 96
    assert set(summary["r2"]) == {"mean", "std"}
    assert document["excluded"] == {"not_float": 1, "below_min_size": 1}

    with (out / "a.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["name"] for row in rows] == ["fc1.weight", "fc2.weight"]
    assert float(rows[1]["mle_sigma"]) == pytest.approx(layers["fc2.weight"]["mle"]["sigma"])
    pngs = sorted(path.name for path in (out / "plots").iterdir())
    assert pngs == ["fc1.weight.png", "fc2.weight.png", "summary.png"]
    assert all((out / "plots" / name).read_bytes()[:4] == b"\x89PNG" for name in pngs)


def test_layers_regex_and_min_size(model_file, capsys):
    assert main(["analyze", str(model_file), "--layers", r"fc2\."]) == 0
    table = capsys.readouterr().out
    assert "fc2.weight" in table and "fc1.weight" not in table
    assert main(["analyze", str(model_file), "--min-size", "100", "--include-vectors"]) == 0
    assert "fc1.bias" in capsys.readouterr().out


def test_bad_layers_are_skipped_and_the_rest_analysed(tmp_path, capsys):
    path = tmp_path / "model.npz"
    np.savez(
        path,
        dead=np.zeros((100, 200), np.float32),
        good=lognormal_weights((100, 200), -3, 1),
        broken=np.full((100, 200), np.nan, np.float32),
    )
    assert main(["analyze", str(path), "--json", str(tmp_path / "a.json")]) == 0
    captured = capsys.readouterr()
    assert "warning: skipped dead: all weights are zero" in captured.err
    document = json.loads((tmp_path / "a.json").read_text())
    assert [layer["name"] for layer in document["layers"]] == ["good"]
    assert {item["name"] for item in document["skipped"]} == {"dead", "broken"}


def test_nonfinite_weights_are_reported_in_json(tmp_path):
    weights = gaussian_weights((100, 200))
    weights[0, :3] = [np.nan, np.inf, -np.inf]
    path = tmp_path / "model.npz"
    np.savez(path, w=weights)
    assert main(["analyze", str(path), "--json", str(tmp_path / "a.json")]) == 0
    layer = json.loads((tmp_path / "a.json").read_text())["layers"][0]
    assert layer["nonfinite"] == 3
    assert layer["max_abs"] == pytest.approx(
        float(np.nanmax(np.abs(weights[np.isfinite(weights)])))
    )


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"", "safetensors", "empty"),
        (b"\x00" * 3, "safetensors", "too short"),
        (b"garbage garbage garbage", "weights", "unknown weight file format"),
        (b"PK\x03\x04 truncated", "npz", "cannot read"),
    ],
)
def test_bad_files_exit_nonzero_with_one_line_and_no_output(
    tmp_path, capsys, content, suffix, message
):
    path = tmp_path / f"model.{suffix}"
    path.write_bytes(content)
    target = tmp_path / "a.json"
    assert main(["analyze", str(path), "--json", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaynes-hw: error: ") and message in err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind either


def test_no_layer_above_min_size(tmp_path, model_file, capsys):
    assert main(["analyze", str(model_file), "--min-size", "1000000"]) == 1
    assert "no layer with at least 1000000 elements" in capsys.readouterr().err


def test_output_into_a_missing_directory_is_refused(tmp_path, model_file, capsys):
    assert main(["analyze", str(model_file), "--json", str(tmp_path / "no" / "a.json")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_invalid_regex_and_bad_numbers(model_file, capsys):
    assert main(["analyze", str(model_file), "--layers", "("]) == 1
    assert "invalid regular expression" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(model_file), "--min-size", "0"])
    assert exit_info.value.code == 2


def test_the_installed_command_prints_no_traceback(tmp_path):
    path = writers.write_safetensors(
        tmp_path / "m.safetensors", {"w": gaussian_weights((200, 100))}
    )
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    result = subprocess.run(
        [sys.executable, "-m", "jaynes_hw", "analyze", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "truncated safetensors file" in result.stderr
