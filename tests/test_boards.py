"""The board top in simulation: UART, host protocol, and the same client `jaynes-hw run` uses,
through a UART model, against the numpy reference."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from jaynes_hw.boards.simulated_uart import SimulatedSerial
from jaynes_hw.boards.top import BoardTop, uart_divisor
from jaynes_hw.codebook import Codebook
from jaynes_hw.errors import UserError
from jaynes_hw.gateware.network import Network
from jaynes_hw.gateware.uart import UARTReceiver, UARTTransmitter
from jaynes_hw.host import CMD_SYNC, HostClient, LinkError, check_identity
from jaynes_hw.layer_config import LayerConfig
from jaynes_hw.registers import REG_CONTROL, REG_ID, LayerDriver, RegisterMap
from tests.amaranth_harness import run
from tests.layer_cases import LayerCase, random_case
from tests.test_gateware import build

CYCLES_PER_BIT = 8


def board_for(cases: list[LayerCase]):
    """A simulated board top holding ``cases`` as a network, and a client talking to it."""
    network = Network([build(case) for case in cases])
    top = BoardTop(network, clock_hz=CYCLES_PER_BIT * 115_200, baud=115_200)
    port = SimulatedSerial(top)
    first, last = cases[0].config, cases[-1].config
    client = HostClient(
        port, n_in=first.n_in, n_out=last.n_out, act_bits=first.act_bits, out_bits=last.out_bits
    )
    return client, port


@pytest.mark.parametrize("divisor", [4, 7, 12])
def test_uart_transmitter_to_receiver(divisor):
    rng = np.random.default_rng(divisor)
    sent = [int(b) for b in rng.integers(0, 256, size=12)]
    from amaranth.hdl import Module

    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor)
    m.submodules.rx = rx = UARTReceiver(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []

    async def sender(ctx):
        for byte in sent:
            ctx.set(tx.bytes.valid, 1)
            ctx.set(tx.bytes.payload, byte)
            await ctx.tick().until(tx.bytes.ready)
        ctx.set(tx.bytes.valid, 0)

    async def receiver(ctx):
        while len(received) < len(sent):
            _, _, strobe, data = await ctx.tick().sample(rx.strobe, rx.data)
            if strobe:
                received.append(int(data))

    run(m, sender, receiver, deadline_cycles=20 * divisor * len(sent))
    assert received == sent


def test_receiver_drops_a_byte_without_stop_bit():
    divisor = 6
    receiver = UARTReceiver(divisor)
    received = []

    def frame(byte, stop):
        return [0, *((byte >> i) & 1 for i in range(8)), stop]

    bits = [*frame(0x5A, 0), 1, 1, *frame(0xC3, 1), 1, 1]

    async def line(ctx):
        for bit in bits:
            ctx.set(receiver.rx, bit)
            await ctx.tick().repeat(divisor)

    async def collect(ctx):
        for _ in range(len(bits) * divisor + 8):
            _, _, strobe, data = await ctx.tick().sample(receiver.strobe, receiver.data)
            if strobe:
                received.append(int(data))

    run(receiver, line, collect)
    assert received == [0xC3]


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


def test_unknown_command_bytes_are_skipped():
    rng = np.random.default_rng(5)
    case = random_case(rng)
    client, port = board_for([case])
    port.write(bytes([0x00, 0xFF, 0x41]))
    client.sync()
    port.write(bytes([CMD_SYNC, CMD_SYNC]))
    assert port.read(2) == bytes([CMD_SYNC, CMD_SYNC])


def test_a_board_with_another_design_is_refused():
    rng = np.random.default_rng(9)
    case = random_case(rng, "int8")
    client, _ = board_for([case])
    other = random_case(np.random.default_rng(10), "lognormal")
    model = argparse.Namespace(layers=[argparse.Namespace(config=other.config, base_address=0)])
    with pytest.raises(LinkError, match="different design"):
        check_identity(client, model)


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


def test_run_command_checks_the_board_against_the_manifest(tmp_path, capsys):
    """`jaynes-hw run` end to end on the default network, the board simulated."""
    from jaynes_hw import generate, host

    options = argparse.Namespace(
        config=None, weights=None, core=None, scheme=None, out=tmp_path, name=None
    )
    written = generate.generate(options)
    manifest = next(path for path in written if path.suffix == ".json")
    request, core, _, _ = generate.request_for(options)
    network = generate.build_network(generate.build_layers(request, core))

    def simulated_board():
        return SimulatedSerial(BoardTop(network, CYCLES_PER_BIT * 115_200, 115_200))

    args = argparse.Namespace(
        port="sim", manifest=manifest, inputs=None, vectors=2, seed=4, out=tmp_path / "y.npy"
    )
    assert host.run(args, port=simulated_board()) == 0
    assert "every output matches the reference" in capsys.readouterr().out
    assert np.load(tmp_path / "y.npy").shape == (2, 10)

    # A manifest whose shift differs from the board's: the outputs no longer match.
    document = json.loads(manifest.read_text())
    document["layers"][1]["shift"] += 2
    manifest.write_text(json.dumps(document))
    network = generate.build_network(generate.build_layers(request, core))
    assert host.run(args, port=simulated_board()) == 1
    assert "differ" in capsys.readouterr().out
