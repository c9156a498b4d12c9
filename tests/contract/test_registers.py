"""The register map and the driver: addresses, constant words, the writes each intention
becomes, and the refusals of what the registers cannot hold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaynes_hw.contract.codebook import Codebook, LevelFormat
from jaynes_hw.contract.layer_config import LayerConfig
from jaynes_hw.contract.registers import (
    CONTROL_COMMIT,
    EXPONENT_FIELD,
    ID_MAGIC,
    REG_CONTROL,
    REG_FORMAT,
    REG_ID,
    REG_SHAPE,
    REG_SHIFT,
    REGISTER_MAP_VERSION,
    REGISTER_WORDS,
    LayerDriver,
    RegisterMap,
)
from jaynes_hw.support.errors import UserError


@pytest.mark.parametrize(
    "config",
    [
        LayerConfig("lognormal", 7, 5, lanes=3, bias_bits=12),
        LayerConfig("lognormal", 64, 32, lanes=4),
        LayerConfig("int8", 9, 6, lanes=6, bias_bits=20),
        LayerConfig("lognormal", 5, 12, lanes=12, bias_bits=16, code_memory="spram"),
    ],
)
def test_regions_are_aligned_disjoint_and_hold_every_word(config):
    register_map = RegisterMap.of(config)
    regions = sorted(register_map.regions, key=lambda region: region.base)
    assert regions[0].name == "regs" and regions[0].base == 0
    for region in regions:
        assert region.size & (region.size - 1) == 0 and region.base % region.size == 0
    for before, after in itertools.pairwise(regions):
        assert before.base + before.size <= after.base
    addresses = {register_map.code_address(o, i) for o in range(config.n_out)
                 for i in range(config.n_in)}  # fmt: skip
    assert len(addresses) == config.n_out * config.n_in
    assert all(register_map.region("codes").contains(address) for address in addresses)
    if config.bias_bits:
        biases = {register_map.bias_address(o) for o in range(config.n_out)}
        assert len(biases) == config.n_out
        assert all(register_map.region("bias").contains(address) for address in biases)
    if config.kind == "lognormal":
        assert register_map.region("codebook").size >= config.codebook_size
    else:
        with pytest.raises(KeyError, match="no codebook region"):
            register_map.region("codebook")
    assert max(r.base + r.size for r in regions) <= 1 << register_map.address_bits
    assert REGISTER_WORDS <= regions[0].size


def test_constant_registers_encode_the_config():
    config = LayerConfig("lognormal", 300, 20, lanes=5, out_bits=12, bias_bits=16, relu=True)
    words = RegisterMap.of(config).constant_registers()
    assert words[REG_ID] == ID_MAGIC | REGISTER_MAP_VERSION << 8 | 1
    assert words[REG_SHAPE] == 300 | 20 << 16
    assert words[REG_FORMAT] == 6 | 2 << 8 | 16 << 16 | 1 << 24  # m6e2, per_lane
    shared = LayerConfig("lognormal", 300, 20, lanes=10, datapath="shared")
    assert RegisterMap.of(shared).constant_registers()[REG_FORMAT] >> 25 & 1
    assert RegisterMap.of(LayerConfig("int8", 3, 2)).constant_registers()[REG_ID] & 0xFF == 2


def test_driver_writes_are_offset_by_the_base_and_encode_levels():
    config = LayerConfig("lognormal", 4, 2, lanes=2, code_bits=3, exponent_bits=3)
    driver = LayerDriver(RegisterMap.of(config), base=0x100)
    codebook = Codebook("lognormal", 3, LevelFormat(6, 3), np.array([0, 5, 9, 63]),
                        np.array([0, 1, 7, 2]), 1.0)  # fmt: skip
    writes = driver.codebook_writes(codebook)
    level_base = 0x100 + driver.map.level_address(0)
    assert writes == [(level_base + k, m | e << EXPONENT_FIELD)
                      for k, (m, e) in enumerate([(0, 0), (5, 1), (9, 7), (63, 2)])]  # fmt: skip
    assert driver.shift_writes(3) == [(0x100 + REG_SHIFT, 3)]
    assert driver.commit_writes() == [(0x100 + REG_CONTROL, CONTROL_COMMIT)]
    codes = np.arange(8).reshape(2, 4) % 8
    writes = dict(driver.code_writes(codes))
    assert writes[0x100 + driver.map.code_address(1, 3)] == codes[1, 3]


def test_int8_weights_travel_as_unsigned_bytes_and_biases_sign_extend():
    config = LayerConfig("int8", 2, 2, lanes=1, bias_bits=8)
    driver = LayerDriver(RegisterMap.of(config))
    words = driver.stored_words(np.array([[-128, 127], [-1, 0]]))
    np.testing.assert_array_equal(words, [[0x80, 0x7F], [0xFF, 0]])
    (_, first), (_, second) = driver.bias_writes([-3, 5])
    assert first == 0xFFFF_FFFD and LayerDriver.decode_signed(first) == -3 and second == 5
    assert LayerDriver.decode_status(0b11) == {"commit_pending": True, "busy": True}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: d.shift_writes(99), "shift must be 0.."),
        (lambda d: d.bias_writes([1, 2]), "this core has no bias"),
        (lambda d: d.scale_writes([1, 2, 3]), "this core has no channel scales"),
        (lambda d: d.stored_words(np.zeros((2, 2))), r"needs \(3, 4\) codes"),
        (lambda d: d.stored_words(np.full((3, 4), 16)), "do not fit the core's 4 bits"),
        (
            lambda d: d.codebook_writes(
                Codebook("pow2", 4, LevelFormat(1, 3), np.ones(8, int), np.zeros(8, int), 1.0)
            ),
            "format m1e3 does not match the core's m6e2",
        ),
    ],
)
def test_driver_refuses_what_the_core_cannot_take(call, message):
    driver = LayerDriver(RegisterMap.of(LayerConfig("lognormal", 4, 3)))
    with pytest.raises(UserError, match=message):
        call(driver)


@pytest.mark.parametrize(
    "kind, mantissas, exponents, message",
    [
        ("int8", [1] * 8, [0] * 8, "an int8 core has no codebook"),
        ("lognormal", [1] * 7, [0] * 7, "has 8 levels: it takes 8 mantissas and exponents, not 7"),
        ("lognormal", [64] + [1] * 7, [0] * 8, r"mantissas must be in 0\.\.63"),
        ("lognormal", [1] * 8, [4] + [0] * 7, r"exponents must be in 0\.\.3"),
    ],
)
def test_level_writes_refuse_what_the_registers_cannot_hold(kind, mantissas, exponents, message):
    driver = LayerDriver(RegisterMap.of(LayerConfig(kind, 8, 4)))
    with pytest.raises(UserError, match=message):
        driver.level_writes(mantissas, exponents)


@pytest.mark.parametrize(
    "config, per_word",
    [
        (LayerConfig("lognormal", 5, 12, lanes=12, code_memory="spram"), 8),
        (LayerConfig("int8", 3, 7, lanes=6, code_memory="spram"), 4),
        (LayerConfig("lognormal", 4, 3, lanes=1, code_memory="spram"), 1),
    ],
)
def test_packed_code_writes_carry_several_codes_and_decode_to_every_connection(config, per_word):
    rng = np.random.default_rng(3)
    driver = LayerDriver(RegisterMap.of(config), base=0x400)
    if config.kind == "int8":
        stored = rng.integers(-128, 128, (config.n_out, config.n_in))
    else:
        stored = rng.integers(0, 16, (config.n_out, config.n_in))
    writes = driver.packed_code_writes(stored)
    words_per_row = -(-config.lanes // per_word)
    assert len(writes) == config.code_rows * words_per_row
    region = driver.map.region("packed_codes")
    # decoded by the register map's own words: row * words_p2 + word, per_word fields a word
    decoded, mask = {}, (1 << config.code_bits) - 1
    for address, data in writes:
        assert region.contains(address - 0x400) and 0 <= data < 1 << 32
        row, word = divmod(address - 0x400 - region.base, driver.map.packed_words_p2)
        for j in range(per_word):
            lane = word * per_word + j
            output = row // config.n_in * config.lanes + lane
            if lane < config.lanes and output < config.n_out:
                decoded[output, row % config.n_in] = data >> j * config.code_bits & mask
    assert len(decoded) == config.n_out * config.n_in
    expected = stored & mask
    assert all(decoded[o, i] == expected[o, i] for o, i in decoded)


def test_only_a_layer_in_spram_has_a_packed_region():
    driver = LayerDriver(RegisterMap.of(LayerConfig("lognormal", 4, 4, lanes=2)))
    assert not driver.map.has("packed_codes")
    with pytest.raises(UserError, match="only a layer whose codes live in SPRAM"):
        driver.packed_code_writes(np.zeros((4, 4), dtype=int))


def test_per_output_writes_check_their_widths():
    """Biases are signed ``bias_bits``, channel scales unsigned ``scale_bits``, one a output."""
    driver = LayerDriver(RegisterMap.of(LayerConfig("lognormal", 4, 3, bias_bits=4, scale_bits=3)))
    assert [data for _, data in driver.scale_writes([0, 7, 5])] == [0, 7, 5]
    for call, message in [
        (lambda: driver.scale_writes([0, 8, 1]), "channel scales must be 3-bit unsigned"),
        (lambda: driver.scale_writes([-1, 0, 1]), "channel scales must be 3-bit unsigned"),
        (lambda: driver.scale_writes([1, 2]), "channel scales must have 3 values"),
        (lambda: driver.bias_writes([-9, 0, 0]), "biases must be 4-bit signed"),
        (lambda: driver.bias_writes([8, 0, 0]), "biases must be 4-bit signed"),
    ]:
        with pytest.raises(UserError, match=message):
            call()
