"""Memory images: code and bias rows pack and unpack exactly, and their ``.hex`` files."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.memory_image import (
    hex_text,
    pack_bias_rows,
    pack_code_rows,
    read_hex,
    unpack_bias_rows,
    unpack_code_rows,
)
from jaynes_hw.support.errors import UserError


@pytest.mark.parametrize("lanes", [1, 2, 3, 5])
def test_code_rows_round_trip_and_put_lane_l_in_field_l(lanes):
    config = LayerConfig("lognormal", 4, 5, lanes=lanes, code_bits=3)
    words = np.random.default_rng(lanes).integers(0, 8, size=(5, 4))
    rows = pack_code_rows(config, words)
    assert len(rows) == config.code_rows
    np.testing.assert_array_equal(unpack_code_rows(config, rows), words)
    row, lane = config.code_row(4, 2)
    assert (rows[row] >> (3 * lane)) & 7 == words[4, 2]


def test_bias_rows_round_trip_with_negative_values():
    config = LayerConfig("int8", 3, 5, lanes=2, bias_bits=6)
    bias = np.array([-32, 31, -1, 0, 7])
    rows = pack_bias_rows(config, bias)
    assert rows == [32, 31, 63, 0, 7]  # one output a row, 6-bit two's complement
    np.testing.assert_array_equal(unpack_bias_rows(config, rows), bias)


def test_hex_files_round_trip(tmp_path):
    rows = [0, 0x1F, 0xABC]
    text = hex_text(rows, width=12)
    assert text == "000\n01f\nabc\n"
    path = tmp_path / "m.hex"
    path.write_text(text)
    assert read_hex(path) == rows


def test_bad_images_are_refused(tmp_path):
    config = LayerConfig("lognormal", 2, 2)
    with pytest.raises(UserError, match="has 4 rows, not 3"):
        unpack_code_rows(config, [0, 0, 0])
    (tmp_path / "bad.hex").write_text("zz\n")
    with pytest.raises(UserError, match="not a hexadecimal memory file"):
        read_hex(tmp_path / "bad.hex")
    with pytest.raises(UserError, match="no such file"):
        read_hex(tmp_path / "missing.hex")
