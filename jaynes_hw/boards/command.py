"""``jaynes-hw run``: drive a programmed board over its UART: check that it holds the
manifest's design, load what its bitstream cannot (codes kept in SPRAM), stream vectors
through it, compare every output with the reference."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from jaynes_hw.contract.host_protocol import DEFAULT_BAUD
from jaynes_hw.support.arguments import positive_float, positive_int
from jaynes_hw.support.errors import UserError
from jaynes_hw.support.files import load_npy

DESCRIPTION = (
    "Talk to a board programmed with a `jaynes-hw synth` bitstream: check that it holds the "
    "manifest's design, stream input vectors through it and compare every output with the "
    "bit-exact reference. Exit 1 on any difference."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the board (/dev/ttyUSB1)")
    parser.add_argument(
        "--manifest",
        type=Path,
        required=True,
        help="the design's manifest (NAME.json that `jaynes-hw synth` or the generator wrote)",
    )
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD)
    parser.add_argument("--inputs", type=Path, help=".npy of int input vectors (count, n_in)")
    parser.add_argument(
        "--vectors", type=positive_int, default=16, help="random vectors when no --inputs (16)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the board's outputs here (.npy)")
    parser.add_argument(
        "--timeout", type=positive_float, default=2.0, help="seconds to wait for a byte (2)"
    )
    parser.add_argument(
        "--self-test",
        type=positive_int,
        metavar="PASSES",
        help="then run the first batch of vectors PASSES times on the board at the core's own "
        "rate (no link), and check the checksum of every result",
    )
    parser.add_argument(
        "--clock-mhz",
        type=positive_float,
        help="the board's clock (as `jaynes-hw synth` reported it): the self-test's rate in "
        "inferences/s",
    )


def open_serial(name: str, baud: int, timeout: float):
    """A pyserial port (needs the ``board`` extra); ``UserError`` when it cannot be opened."""
    from jaynes_hw.support.extras import require_extra

    serial = require_extra("serial", "board", "jaynes-hw run (pyserial)")
    try:
        return serial.Serial(name, baud, timeout=timeout)
    except (serial.SerialException, ValueError) as error:
        raise UserError(f"cannot open {name}: {error}") from None


def load_vectors(path: Path) -> np.ndarray:
    """Integer input vectors from a ``.npy`` file."""
    vectors = load_npy(path)
    if not np.issubdtype(vectors.dtype, np.integer):
        raise UserError(f"{path}: input vectors must be integers, not {vectors.dtype}")
    return vectors


def run(args: argparse.Namespace, port=None) -> int:
    """Check the board holds the manifest's design, stream vectors, compare with the
    reference. Exit 0 when every output matches, 1 otherwise. ``port``: an open transport
    (tests), else ``args.port`` is opened with pyserial."""
    from jaynes_hw.boards.client import check_identity, client_for
    from jaynes_hw.contract.design import Design
    from jaynes_hw.support.files import save_npy

    design = Design.from_manifest(args.manifest)
    if args.inputs is not None:
        vectors = load_vectors(args.inputs)
    else:
        vectors = design.random_inputs(np.random.default_rng(args.seed), args.vectors)
    if port is None:
        port = open_serial(args.port, args.baud, args.timeout)
    client = client_for(port, design)
    client.sync()
    check_identity(client, design)
    start_up = design.start_up_writes()
    if start_up:
        started = time.monotonic()
        client.play(start_up)
        codes = sum(layer.config.n_in * layer.config.n_out for layer in design.layers
                    if layer.config.code_memory == "spram")  # fmt: skip
        seconds = time.monotonic() - started
        print(f"loaded {codes} codes into SPRAM in {len(start_up)} writes, {seconds:.2f} s")
    started = time.monotonic()
    outputs = client.infer(vectors)
    seconds = time.monotonic() - started
    mismatches = int(np.any(outputs != design.forward(vectors), axis=1).sum())
    if args.out is not None:
        save_npy(args.out, outputs)
    print(
        f"{len(vectors)} vectors through {design.top} on {args.port} in {seconds:.2f} s: "
        + ("every output matches the reference" if not mismatches else f"{mismatches} differ")
    )
    self_test_ok = True
    if args.self_test:
        self_test_ok = self_test(client, design, vectors, args.self_test, args.clock_mhz)
    return 0 if mismatches == 0 and self_test_ok else 1


SLOWEST_BOARD_CLOCK_HZ = 12e6  # the iCEBreaker's oscillator: no board runs slower


def self_test(client, design, vectors: np.ndarray, passes: int, clock_mhz: float | None) -> bool:
    """Stage the first batch of ``vectors`` with one 'X', run it ``passes`` times on the
    board ('T'), compare the checksum with the reference's and print the core's own rate:
    cycles a vector, and inferences/s at ``clock_mhz`` (the clock `jaynes-hw synth`
    reported). True when the checksum matches."""
    from jaynes_hw.contract.host_protocol import batch_vectors, results_checksum

    batch = vectors[: batch_vectors(design.n_in)]
    client.infer(batch)
    fill = sum(layer.config.n_in + layer.config.latency_cycles for layer in design.layers)
    expected_cycles = passes * len(batch) * design.vector_period + fill
    clock_hz = clock_mhz * 1e6 if clock_mhz else SLOWEST_BOARD_CLOCK_HZ
    cycles, checksum = client.self_test(passes, expected_cycles / clock_hz)
    matches = checksum == results_checksum(design.forward(batch), passes)
    count = passes * len(batch)
    rate = f"{count} vectors in {cycles} cycles, {cycles / count:.1f} cycles a vector"
    if clock_mhz:
        rate += f", {count * clock_mhz * 1e6 / cycles:,.0f} inferences/s at {clock_mhz:g} MHz"
    verdict = "the checksum matches the reference" if matches else "the checksum DIFFERS"
    print(f"self-test on the board: {rate} (the design's period: {design.vector_period}); "
          f"{verdict}")  # fmt: skip
    return matches
