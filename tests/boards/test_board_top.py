"""The board top in simulation: UART, host protocol, and the same client `jaynes-hw run` uses,
through a UART model, against the numpy reference."""

from __future__ import annotations

import argparse
import struct

import numpy as np
import pytest

from jaynes_hw.boards.client import HostClient, LinkError, check_identity
from jaynes_hw.boards.simulated_uart import SimulatedSerial
from jaynes_hw.boards.top import uart_divisor
from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.contract.host_protocol import (
    ERROR_REPLY,
    HostCommand,
    LinkFault,
    batch_vectors,
    crc8,
    framed,
    results_checksum,
)
from jaynes_hw.contract.layer_config import LayerConfig, network_vector_period
from jaynes_hw.contract.registers import REG_CONTROL, REG_ID, LayerDriver, RegisterMap
from jaynes_hw.gateware.network import Network
from jaynes_hw.support.errors import UserError
from tests.helpers.boards import simulated_top
from tests.helpers.layer_cases import LayerCase, build_core, random_case


def board_for(cases: list[LayerCase], **options):
    """A simulated board top (``BoardTop`` ``options``) holding ``cases`` as a network, and
    a client talking to it."""
    network = Network([build_core(case) for case in cases])
    port = SimulatedSerial(simulated_top(network, **options))
    first, last = cases[0].config, cases[-1].config
    client = HostClient(
        port, n_in=first.n_in, n_out=last.n_out, act_bits=first.act_bits, out_bits=last.out_bits
    )
    return client, port


@pytest.mark.parametrize("seed", range(3))
def test_host_protocol_streams_and_reads_like_the_reference(seed):
    rng = np.random.default_rng(seed)
    case = random_case(rng)
    client, _ = board_for([case])
    client.sync()
    assert client.read(REG_ID) == RegisterMap.of(case.config).constant_registers()[REG_ID]
    x = case.random_inputs(rng, 6)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))


def test_wide_values_travel_as_two_bytes():
    rng = np.random.default_rng(7)
    config = LayerConfig("int8", 5, 3, lanes=2, act_bits=12, out_bits=12)
    case = LayerCase(config, rng.integers(-128, 128, size=(3, 5)), None, 6, None)
    client, _ = board_for([case])
    x = case.random_inputs(rng, 4)
    x[0, 0], x[1, 0] = -2048, 2047  # extremes of 12-bit inputs
    np.testing.assert_array_equal(client.infer(x), case.expected(x))


def test_retune_through_the_host_link_changes_outputs_as_the_reference_says():
    rng = np.random.default_rng(11)
    case = random_case(rng, "lognormal")
    client, _ = board_for([case])
    x = case.random_inputs(rng, 3)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))
    fmt = case.codebook.format
    mantissas = rng.integers(0, 1 << fmt.mantissa_bits, size=case.codebook.size)
    exponents = rng.integers(0, 1 << fmt.exponent_bits, size=case.codebook.size)
    book = case.codebook
    retuned = Codebook(book.scheme, book.bits, fmt, mantissas, exponents, book.weight_scale)
    driver = LayerDriver(RegisterMap.of(case.config))
    writes = driver.codebook_writes(retuned) + driver.commit_writes()
    assert client.play(writes) == len(writes)
    client.wait_idle(REG_CONTROL)
    np.testing.assert_array_equal(client.infer(x), case.expected(x, codebook=retuned))


def test_batches_larger_than_the_receive_fifo_and_a_two_layer_network():
    rng = np.random.default_rng(3)
    first = random_case(rng, "int8")
    while True:  # a second layer that fits after the first
        second = random_case(rng, "lognormal")
        if second.config.n_in == first.config.n_out and second.config.act_bits == (
            first.config.out_bits
        ):
            break
    client, _ = board_for([first, second])
    count = 512 // first.config.n_in + 3  # more than one batch
    x = first.random_inputs(rng, count)
    expected = second.expected(first.expected(x))
    np.testing.assert_array_equal(client.infer(x), expected)


def test_each_malformed_command_gets_its_error_answer_and_the_link_recovers():
    rng = np.random.default_rng(5)
    case = random_case(rng)
    client, port = board_for([case])
    n_in = case.config.n_in
    malformed = {
        LinkFault.UNKNOWN: bytes([0x00, 0xFF, 0x41]),
        LinkFault.CHECKSUM: bytes([HostCommand.SYNC, crc8(bytes([HostCommand.SYNC])) ^ 0x10]),
        LinkFault.TIMEOUT: bytes([HostCommand.READ, 1, 2]),  # stops after two address bytes
        LinkFault.TOO_LONG: framed(
            bytes([HostCommand.STREAM]) + struct.pack("<H", batch_vectors(n_in) + 1)
        ),
    }
    for fault, frame in malformed.items():
        port.write(frame)
        assert port.read(4) == framed(bytes([ERROR_REPLY, fault])), fault.name
        client.sync()  # the next command works at once
    assert not client.faults
    x = case.random_inputs(rng, 2)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))


def test_a_board_with_another_design_is_refused():
    rng = np.random.default_rng(9)
    case = random_case(rng, "int8")
    client, _ = board_for([case])
    other = random_case(np.random.default_rng(10), "lognormal")
    design = argparse.Namespace(layers=[argparse.Namespace(config=other.config, base_address=0)])
    with pytest.raises(LinkError, match="different design"):
        check_identity(client, design)


def test_silence_is_a_clear_error():
    class Silent:
        def write(self, data):
            return len(data)

        def read(self, count):
            return b""

    client = HostClient(Silent(), n_in=2, n_out=2, act_bits=8, out_bits=8)
    with pytest.raises(LinkError, match="no answer from the board"):
        client.sync()


def test_baud_rate_the_clock_cannot_make_is_refused():
    assert uart_divisor(12e6, 115_200) == 104  # iCEBreaker: 0.2% fast
    with pytest.raises(UserError, match="too fast"):
        uart_divisor(12e6, 4_000_000)
    with pytest.raises(UserError, match="within 2%"):
        uart_divisor(12e6, 1_600_000)


@pytest.mark.parametrize("seed", range(2))
def test_self_test_runs_the_staged_vectors_at_the_cores_rate_and_checks_every_result(seed):
    """The 'T' command: the vectors of the last 'X', ``passes`` times back to back on the
    board, no results on the link; the checksum is the reference's, the cycles are the
    core's own rate (one vector every ``vector_cycles``), not the link's."""
    rng = np.random.default_rng(10 + seed)
    while not (case := random_case(rng, "lognormal")).config.full_rate:
        pass
    config = case.config
    client, _ = board_for([case])
    with pytest.raises(LinkError, match="nothing_staged"):
        client.self_test(2)  # before any 'X': nothing staged
    x = case.random_inputs(rng, 3)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))
    passes = 4
    cycles, checksum = client.self_test(passes)
    assert checksum == results_checksum(case.expected(x), passes)
    assert checksum != results_checksum(case.expected(x), passes - 1)
    vector_cycles = network_vector_period([config])  # a full-rate layer's period
    vectors = passes * len(x)
    fill = config.n_in + config.latency_cycles + config.n_out  # the first vector through
    assert (vectors - 1) * vector_cycles < cycles <= vectors * vector_cycles + fill, (
        cycles, vector_cycles, fill)  # fmt: skip
    # and the link still streams and the self-test repeats
    np.testing.assert_array_equal(client.infer(x[:1]), case.expected(x[:1]))
    assert client.self_test(1)[1] == results_checksum(case.expected(x[:1]))


def test_a_board_built_without_the_self_test_refuses_it_and_still_streams():
    rng = np.random.default_rng(12)
    case = random_case(rng, "lognormal")
    client, _ = board_for([case], self_test=False)
    client.attempts = 1
    x = case.random_inputs(rng, 2)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))
    with pytest.raises(LinkError, match=r"\(unknown\).*built with --no-self-test"):
        client.self_test(1)
    np.testing.assert_array_equal(client.infer(x), case.expected(x))


def test_a_convolution_network_streams_images_through_the_link():
    """A padded convolution with max pooling behind the board top: 8x8x2 images go in
    channel-last through the UART, the pooled 4x4x3 outputs come back as the reference
    says (the host link is sized by values per image, not by the core's window)."""
    from jaynes_hw.contract.geometry import ConvWindow
    from tests.helpers.layer_cases import conv_case

    window = ConvWindow(8, 8, 2, 3, 3, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1)
    layer, reference = conv_case(window, 3, 3, seed=6, pool_kind="max")
    port = SimulatedSerial(simulated_top(Network([layer])))
    client = HostClient(port, n_in=window.values_in, n_out=layer.values_out, act_bits=8,
                        out_bits=8)  # fmt: skip
    images = np.random.default_rng(6).integers(-128, 128, size=(3, window.values_in))
    expected = reference(images)
    assert expected.shape == (3, 48) and np.any(expected > 0)
    np.testing.assert_array_equal(client.infer(images), expected)
