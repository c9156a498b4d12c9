"""Line noise on the simulated UART, both ways: every fault is filtered out or detected,
the command is retried or fails with a clear error, the link recovers for the next
command, and no result computed from a corrupted input is ever accepted."""

from __future__ import annotations

import numpy as np
import pytest

from jaynes_hw.boards.client import HostClient, LinkError
from jaynes_hw.boards.simulated_uart import LineFault, SimulatedSerial, faulty_command
from jaynes_hw.contract.host_protocol import ERROR_REPLY, HostCommand, LinkFault, framed
from jaynes_hw.contract.registers import REG_ID, RegisterMap
from jaynes_hw.gateware.network import Network
from tests.helpers.boards import CYCLES_PER_BIT, simulated_top
from tests.helpers.layer_cases import build_core, random_case


def small_case(seed: int):
    """A random layer with few inputs, so frames are short and the simulation quick."""
    rng = np.random.default_rng(seed)
    while True:
        case = random_case(rng, "lognormal")
        if case.config.n_in <= 6:
            return case, rng


def board(case, *, attempts: int, **options):
    port = SimulatedSerial(simulated_top(Network([build_core(case)]), **options))
    config = case.config
    client = HostClient(
        port,
        n_in=config.n_in,
        n_out=config.n_out,
        act_bits=config.act_bits,
        out_bits=config.out_bits,
        attempts=attempts,
    )
    return client, port


@pytest.mark.parametrize("seed", range(2))
def test_every_fault_is_filtered_or_detected_and_retried_to_the_right_answer(seed):
    case, rng = small_case(seed)
    client, port = board(case, attempts=3)
    identity = RegisterMap.of(case.config).constant_registers()[REG_ID]
    tally = {"filtered": 0, "detected": 0, "wrong": 0}
    for _ in range(12):
        x = case.random_inputs(rng, int(rng.integers(1, 4)))
        trial = faulty_command(client, port, rng, x, case.expected(x), identity, CYCLES_PER_BIT)
        tally["wrong"] += not trial.correct
        if trial.outcome == "filtered":
            assert trial.retries == 0, f"{trial.name} {trial.fault} reached the decoder"
            tally["filtered"] += 1
        else:
            assert trial.retries >= 1, f"{trial.name} {trial.fault} went unnoticed"
            tally["detected"] += 1
    assert tally["wrong"] == 0, tally
    assert tally["filtered"] + tally["detected"] == 12


def test_without_retries_each_fault_is_a_clear_error_and_the_next_command_works():
    case, rng = small_case(5)
    client, port = board(case, attempts=1)
    x = case.random_inputs(rng, 2)
    for fault, reason in (
        # in the payload: the board's CRC refuses the frame
        (LineFault("flip", 5, bit=3), r"refused it \(checksum\)"),
        # the frame stops short: the board's idle timeout ends it
        (LineFault("drop", 4), r"refused it \(timeout\)"),
        # a result bit on the way back: the client's CRC
        (LineFault("flip", 1, bit=0, to_board=False), "answer failed the checksum"),
    ):
        port.inject(fault)
        with pytest.raises(LinkError, match=reason):
            client.infer(x)
        port.inject()
        client.resync()
        np.testing.assert_array_equal(client.infer(x), case.expected(x))


def test_a_burst_that_overflows_the_receive_fifo_is_reported_not_lost():
    """The host breaks the one-command-at-a-time rule: a stream whose results take long to
    send, then more bytes than the receive FIFO holds while the board is busy sending. The
    board answers the stream, then 'E' OVERFLOW for what it lost."""
    case, rng = small_case(7)
    client, port = board(case, attempts=1, rx_fifo_bytes=8)
    x = case.random_inputs(rng, 3)
    payload = b"".join(
        int(value).to_bytes(client.in_bytes, "little", signed=True) for value in x.reshape(-1)
    )
    stream = framed(bytes([HostCommand.STREAM, len(x), 0]) + payload)
    burst = framed(bytes([HostCommand.SYNC])) * 12  # 24 bytes at line rate
    port.write(stream + burst)
    answers = port.read(4096)  # everything the board says until it is quiet
    results = framed(
        bytes([HostCommand.STREAM])
        + b"".join(
            int(value).to_bytes(client.out_bytes, "little", signed=True)
            for value in case.expected(x).reshape(-1)
        )
    )
    assert answers.startswith(results)
    assert framed(bytes([ERROR_REPLY, LinkFault.OVERFLOW])) in answers
    client.sync()
