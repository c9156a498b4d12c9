"""`analyze` at scale: BF16 counted without widening, row blocks that merge exactly, many
files, and a real Dask LocalCluster giving exactly the single-process results."""

from __future__ import annotations

import json
import pickle
import time

import numpy as np
import pytest

from jaynes_hw.analyze.file_analysis import analyze_files
from jaynes_hw.analyze.histogram import MagnitudeHistogram
from jaynes_hw.cli import main
from jaynes_hw.support.cluster import open_executor
from jaynes_hw.support.errors import UserError
from tests.helpers import writers
from tests.helpers.populations import gaussian_weights, lognormal_weights


def _bf16_bits(values: np.ndarray) -> np.ndarray:
    return (np.ascontiguousarray(values, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def test_bfloat16_bits_count_as_their_float32_widening():
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [
            rng.standard_normal(5000).astype(np.float32) * 0.03,
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 3e38], np.float32),
        ]
    )
    bits = _bf16_bits(values)
    widened = (bits.astype(np.uint32) << 16).view(np.float32)
    from_bits = MagnitudeHistogram.of_bfloat16_bits(bits)
    from_float = MagnitudeHistogram.of(widened)
    assert np.array_equal(from_bits.counts, from_float.counts)
    finite = np.abs(widened[np.isfinite(widened)])
    assert from_bits.max_abs == from_float.max_abs == float(finite.max())


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_narrow_and_wide_floats_count_as_their_float32_values(dtype):
    values = gaussian_weights((700, 300), seed=3).astype(dtype)
    histogram = MagnitudeHistogram.of(values)
    assert np.array_equal(histogram.counts, MagnitudeHistogram.of(values.astype(np.float32)).counts)
    assert histogram.max_abs == float(np.abs(values).max())


def test_row_blocks_merge_to_the_whole_and_travel_compactly():
    values = lognormal_weights((999, 77), -4.0, 1.0, seed=5)
    whole = MagnitudeHistogram.of(values)
    parts = [MagnitudeHistogram.of(values[start : start + 100]) for start in range(0, 999, 100)]
    merged = MagnitudeHistogram.merged(parts)
    assert np.array_equal(merged.counts, whole.counts) and merged.max_abs == whole.max_abs
    payload = pickle.dumps(whole)
    assert len(payload) < whole.counts.nbytes / 20  # the nonempty bins, not 4 MB
    restored = pickle.loads(payload)
    assert np.array_equal(restored.counts, whole.counts) and restored.max_abs == whole.max_abs


@pytest.fixture
def zoo(tmp_path):
    """Three models in three formats (a BF16 safetensors, an npz, an npy), 2-4 layers each."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    writers.write_safetensors_bf16(
        folder / "a.safetensors",
        {
            "l0.weight": lognormal_weights((300, 200), -4.0, 1.0, seed=1),
            "l1.weight": gaussian_weights((250, 160), seed=2),
            "l1.bias": gaussian_weights((250,), seed=3),
        },
    )
    np.savez(
        folder / "b.npz",
        w0=gaussian_weights((200, 100), seed=4),
        w1=lognormal_weights((128, 128), -4.0, 1.0, seed=5),
        w2=lognormal_weights((90, 150), -4.0, 1.0, seed=6),
    )
    np.save(folder / "c.npy", lognormal_weights((400, 100), -4.0, 1.0, seed=7).astype(np.float64))
    return folder


def _documents(analyses):
    return [
        {
            "source": analysis.source,
            "layers": [layer.to_json(include_histogram=True) for layer in analysis.layers],
            "skipped": analysis.skipped,
        }
        for analysis in analyses
    ]


def test_a_local_cluster_gives_exactly_the_single_process_results(zoo):
    paths = sorted(zoo.iterdir())
    alone = analyze_files(paths, progress=False)
    assert [len(analysis.layers) for analysis in alone] == [2, 3, 1]
    with open_executor(workers=2) as client:  # two worker processes
        # every tensor split into blocks of 64 rows of 100, and: tensors batched 3 or 4 a task
        for block_elements in (64 * 100, 200_000):
            parallel = analyze_files(
                paths, progress=False, block_elements=block_elements, executor=client
            )
            assert _documents(parallel) == _documents(alone)
    for single, path in zip(alone, paths, strict=True):
        assert _documents(analyze_files([path], progress=False)) == _documents([single])


def test_the_command_takes_a_zoo_folder_and_summarises_across_it(zoo, tmp_path, capsys):
    out = tmp_path / "zoo.json"
    assert main(["analyze", str(zoo), "--json", str(out), "--csv", str(tmp_path / "z.csv")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("== ") == 4 and "== all 3 files" in printed

    document = json.loads(out.read_text())
    assert [entry["source"] for entry in document["files"]] == [
        str(zoo / name) for name in ("a.safetensors", "b.npz", "c.npy")
    ]
    assert document["summary"]["layers"] == 6 and document["summary"]["files"] == 3
    assert document["summary"]["weights"] == sum(
        layer["count"] for entry in document["files"] for layer in entry["layers"]
    )
    rows = (tmp_path / "z.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[1].startswith(str(zoo / "a.safetensors"))
    # a quoted glob names the same files
    assert main(["analyze", str(zoo / "*.np*"), "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())["files"]) == 2


def test_a_pattern_that_matches_nothing_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "*.safetensors")]) == 1
    assert capsys.readouterr().err.strip().endswith("no file matches this pattern")


def test_an_unreachable_scheduler_is_reported_within_seconds(zoo):
    started = time.perf_counter()
    with pytest.raises(UserError, match="cannot reach the Dask scheduler"):
        with open_executor(scheduler="tcp://127.0.0.1:9"):
            pass
    assert time.perf_counter() - started < 30


def test_a_layer_counted_in_blocks_that_cannot_be_fitted_is_skipped_not_fatal(tmp_path):
    path = writers.write_safetensors(
        tmp_path / "m.safetensors",
        {
            "dead.weight": np.zeros((300, 100), np.float32),
            "live.weight": lognormal_weights((300, 100), -4.0, 1.0, seed=8),
        },
    )
    (analysis,) = analyze_files([path], progress=False, block_elements=64 * 100)
    assert [layer.name for layer in analysis.layers] == ["live.weight"]
    assert analysis.skipped == [{"name": "dead.weight", "reason": "all weights are zero"}]
