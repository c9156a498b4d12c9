"""Atomic writes: a finished file or none, never a half-written one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import (
    atomic_output,
    json_safe,
    save_npy,
    save_npz,
    write_csv,
    write_json,
    write_text_files,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(path) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_writes_land_complete(tmp_path):
    write_json(tmp_path / "a.json", {"x": math.nan, "y": np.int64(3), "z": (1.5, math.inf)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": 3, "z": [1.5, None]}
    write_csv(tmp_path / "b.csv", ["k", "v"], [["a", 1]])
    assert (tmp_path / "b.csv").read_text().splitlines() == ["k,v", "a,1"]
    save_npy(tmp_path / "c.npy", np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), np.arange(3))
    save_npz(tmp_path / "d.npz", {"w": np.ones(2)})
    np.testing.assert_array_equal(np.load(tmp_path / "d.npz")["w"], np.ones(2))
    written = write_text_files(tmp_path / "new" / "dir", {"e.txt": "e", "f.txt": "f"})
    assert [path.read_text() for path in written] == ["e", "f"]
    assert json_safe({1: [np.float32(0.5)]}) == {"1": [0.5]}


def test_a_missing_directory_or_a_file_in_the_way_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_json(tmp_path / "missing" / "a.json", {})
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        write_text_files(tmp_path / "file", {"a": "b"})
