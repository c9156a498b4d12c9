"""Codebook registers: the level format's rounding and limits, sizes, JSON, code packing."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.contract.codebook import (
    Codebook,
    LevelFormat,
    pack_codes,
    unpack_codes,
    weights_from_levels,
)
from jaynes_hw.support.errors import UserError


def test_level_format_refuses_what_it_cannot_hold():
    fmt = LevelFormat(mantissa_bits=4, exponent_bits=2)
    with pytest.raises(UserError, match="does not fit the register format"):
        fmt.encode(np.array([fmt.max_level * 1.1]))
    mantissas, exponents = fmt.encode(np.array([0.0, 3.0, 15.0, 17.0, 120.0]))
    assert np.array_equal(mantissas << exponents, [0, 3, 15, 16, 120])


def test_codebook_refuses_a_wrong_number_of_levels():
    with pytest.raises(UserError, match="has 8 levels"):
        Codebook(
            "lognormal", 4, LevelFormat(6, 3), np.ones(4, np.int64), np.zeros(4, np.int64), 1.0
        )


def test_codebook_json_round_trip():
    book = Codebook.from_real_levels("lognormal", 3, LevelFormat(6, 3), [0.1, 0.3, 0.9, 2.7])
    again = Codebook.from_json(book.to_json())
    assert again.to_json() == book.to_json()
    np.testing.assert_array_equal(again.levels, book.levels)
    assert book.to_json()["levels"] == (book.mantissas << book.exponents).tolist()


def test_codes_pack_sign_above_bin_and_unpack():
    negative = np.array([[True, False, True]])
    bins = np.array([[3, 0, 1]])
    codes = pack_codes(negative, bins, 3)
    np.testing.assert_array_equal(codes, [[0b111, 0b000, 0b101]])
    back_negative, back_bins = unpack_codes(codes, 3)
    np.testing.assert_array_equal(back_negative, negative)
    np.testing.assert_array_equal(back_bins, bins)
    np.testing.assert_array_equal(weights_from_levels(codes, 3, [0, 2, 5, 9]), [[-9, 0, -2]])
    with pytest.raises(UserError, match="do not fit 3 bits"):
        unpack_codes(np.array([8]), 3)
