"""The layer cores' memory images: packing codes, biases and channel scales into memory rows,
and back.

A code memory row holds the ``lanes`` codes of one (pass, input) pair: lane l (output
pass * lanes + l) in bits [l * code_bits, (l + 1) * code_bits). A bias row holds one
output's bias, two's complement, ``bias_bits`` wide, and a scale row one output's channel
scale, unsigned, ``scale_bits`` wide (the finish stage reads both in order). The ``.hex``
files the generator writes are these rows, one per line, for ``$readmemh``. Pure Python:
the generator packs, the Verilog testbench unpacks to rebuild its model from what the
generator wrote.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.support.errors import UserError


def pack_code_rows(config: LayerConfig, words: np.ndarray) -> list[int]:
    """(n_out, n_in) unsigned code words -> code memory rows."""
    rows = [0] * config.code_rows
    for output in range(config.n_out):
        pass_index, lane = divmod(output, config.lanes)
        shift = lane * config.code_bits
        base = pass_index * config.n_in
        for index, word in enumerate(words[output].tolist()):
            rows[base + index] |= word << shift
    return rows


def unpack_code_rows(config: LayerConfig, rows: list[int]) -> np.ndarray:
    """Code memory rows -> (n_out, n_in) unsigned code words (int64)."""
    if len(rows) != config.code_rows:
        raise UserError(f"a code memory has {config.code_rows} rows, not {len(rows)}")
    mask = (1 << config.code_bits) - 1
    words = np.zeros((config.n_out, config.n_in), dtype=np.int64)
    for output in range(config.n_out):
        pass_index, lane = divmod(output, config.lanes)
        shift = lane * config.code_bits
        base = pass_index * config.n_in
        words[output] = [(rows[base + i] >> shift) & mask for i in range(config.n_in)]
    return words


def pack_bias_rows(config: LayerConfig, bias: np.ndarray) -> list[int]:
    """n_out signed biases -> bias memory rows (one output a row, two's complement)."""
    mask = (1 << config.bias_bits) - 1
    return [value & mask for value in np.asarray(bias).tolist()]


def unpack_bias_rows(config: LayerConfig, rows: list[int]) -> np.ndarray:
    """Bias memory rows -> n_out signed biases (int64)."""
    if len(rows) != config.n_out:
        raise UserError(f"a bias memory has {config.n_out} rows, not {len(rows)}")
    bits = config.bias_bits
    fields = [row & ((1 << bits) - 1) for row in rows]
    return np.array([f - (1 << bits) if f >> (bits - 1) else f for f in fields], dtype=np.int64)


def pack_scale_rows(config: LayerConfig, scales: np.ndarray) -> list[int]:
    """n_out unsigned channel scales -> scale memory rows (one output a row)."""
    return [int(value) for value in np.asarray(scales).tolist()]


def unpack_scale_rows(config: LayerConfig, rows: list[int]) -> np.ndarray:
    """Scale memory rows -> n_out channel scales (int64)."""
    if len(rows) != config.n_out:
        raise UserError(f"a scale memory has {config.n_out} rows, not {len(rows)}")
    if any(row >> config.scale_bits for row in rows):
        raise UserError(f"a scale memory row is wider than {config.scale_bits} bits")
    return np.array(rows, dtype=np.int64)


def hex_text(rows: list[int], width: int) -> str:
    """Rows as ``$readmemh`` text: one zero-padded hexadecimal row per line."""
    digits = max(1, -(-width // 4))
    return "".join(f"{row:0{digits}x}\n" for row in rows)


def read_hex(path: str | os.PathLike[str]) -> list[int]:
    """Rows of a ``$readmemh`` file written by ``hex_text``."""
    try:
        lines = Path(path).read_text().split()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    try:
        return [int(line, 16) for line in lines]
    except ValueError:
        raise UserError(f"{path}: not a hexadecimal memory file") from None
