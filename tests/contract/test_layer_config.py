"""``LayerConfig``: validation, derived widths, and its JSON round trip."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from jaynes_hw.contract.layer_config import CORE_KINDS, PARAMETERS, LayerConfig
from jaynes_hw.contract.reference import accumulator_width
from jaynes_hw.support.errors import UserError

CONFIGS = [
    LayerConfig("lognormal", 64, 32, lanes=4, bias_bits=27, relu=True),
    LayerConfig("lognormal", 5, 7, lanes=3, code_bits=3, mantissa_bits=1, exponent_bits=2),
    LayerConfig("int8", 12, 10, lanes=10, act_bits=6, out_bits=12),
]


def test_parameters_are_the_dataclass_fields():
    assert set(PARAMETERS) == {field.name for field in fields(LayerConfig)}
    assert CORE_KINDS == ("lognormal", "int8")


@pytest.mark.parametrize("config", CONFIGS)
def test_json_round_trip(config):
    document = config.to_json()
    assert LayerConfig.from_json(document) == config
    assert document["passes"] == -(-config.n_out // config.lanes)
    assert ("mantissa_bits" in document) == (config.kind == "lognormal")


@pytest.mark.parametrize("config", CONFIGS)
def test_widths_follow_the_bounds(config):
    assert config.accumulator_bits == accumulator_width(
        config.n_in, config.act_bits, config.max_level, config.bias_bits
    )
    worst_term = config.max_level << (config.act_bits - 1)
    assert -worst_term >= -(1 << (config.product_bits - 1))
    assert config.code_rows == config.passes * config.n_in
    assert config.cycles_per_vector == config.passes * (config.n_in + 1)
    last_output = config.n_out - 1
    row, lane = config.code_row(last_output, config.n_in - 1)
    assert row == config.code_rows - 1 and lane == last_output % config.lanes
    assert config.last_pass_lanes == config.n_out - (config.passes - 1) * config.lanes


def test_int8_cores_have_no_codebook():
    config = LayerConfig("int8", 4, 4)
    assert config.code_bits == 8 and config.codebook_size == 0 and config.max_level == 128
    with pytest.raises(TypeError, match="no codebook"):
        _ = config.level_format


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("conv", 4, 4), "unknown core 'conv'"),
        (("lognormal", 0, 4), "n_in must be an integer from 1"),
        (("lognormal", 4, 4, 5), r"lanes \(5\) cannot exceed n_out \(4\)"),
        (("lognormal", 4, 4, 1, 1), "act_bits must be an integer from 2 to 16"),
        (("int8", 4, 4, 1, 8, 8, 4), "stores 8-bit weights"),
        (("lognormal", 4, 4, 1, 8, 8, 9), "bits must be an integer from 2 to 8"),
    ],
)
def test_bad_parameters_are_refused(arguments, message):
    with pytest.raises(UserError, match=message):
        LayerConfig(*arguments)


def test_from_json_needs_the_shape():
    with pytest.raises(KeyError):
        LayerConfig.from_json({"kind": "lognormal", "n_in": 3})


def test_unrolled_configs_compute_every_output_at_once():
    from jaynes_hw.contract.layer_config import network_vector_period

    parallel = LayerConfig("lognormal", 64, 32, 4, datapath="unrolled")
    serial = LayerConfig("lognormal", 32, 10, 1, code_bits=3, datapath="unrolled_serial")
    assert parallel.lanes == 32 and parallel.passes == 1 and parallel.code_rows == 64
    assert parallel.cycles_per_vector == 1 and serial.cycles_per_vector == 4
    assert parallel.unrolled_groups == 8 and serial.unrolled_groups == 3  # 4 outputs each
    # 8 groups run a cycle apart (7 cycles more latency); 3 groups, or serial, do not
    assert parallel.unrolled_skew == 7 and serial.unrolled_skew == 0
    assert replace(serial, datapath="unrolled").unrolled_skew == 0
    assert parallel.full_rate and not parallel.codes_writable
    document = parallel.to_json()
    assert document["vector_streams"] and document["codes_writable"] is False
    assert LayerConfig.from_json(document) == parallel
    # deeper trees for more inputs; the serial datapath spends K cycles on its products
    assert (
        parallel.latency_cycles
        > LayerConfig("lognormal", 8, 32, datapath="unrolled").latency_cycles
    )
    assert (
        serial.unrolled_latency(0) - replace(serial, datapath="unrolled").unrolled_latency(0)
        == 4 + 1 - 2
    )
    # element streams at the ends: the adapters take n_in and give n_out values a cycle
    assert network_vector_period([parallel, serial]) == 64
    assert network_vector_period([parallel, serial], vector_ports=True) == 4
    folded = LayerConfig("lognormal", 10, 6, 2)
    assert network_vector_period([serial, folded]) == max(32, 10, folded.cycles_per_vector)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LayerConfig("int8", 8, 8, datapath="unrolled"), "lognormal only"),
        (lambda: LayerConfig("lognormal", 8, 1100, datapath="unrolled"), "too large"),
        (lambda: LayerConfig("lognormal", 8, 8, datapath="wired"), "unknown datapath"),
    ],
)
def test_unrolled_configs_refused(make, message):
    with pytest.raises(UserError, match=message):
        make()
