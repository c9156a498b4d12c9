"""The host link: the byte protocol a board top speaks on its UART, and the client for it.

Pure Python. ``jaynes_hw.boards`` builds the gateware side from the constants here; the
``jaynes-hw run`` command and the simulation tests drive it through ``HostClient`` over any
transport with pyserial's ``read(n)`` / ``write(data)``.

Commands (host to board; multi-byte fields little-endian)::

    'W' addr[4] data[4]           write a configuration word     -> 'W' once done
    'R' addr[4]                   read a configuration word      -> data[4]
    'X' count[2] value[count]     stream ``count`` input values  -> results, as produced
    'S'                           synchronise                    -> 'S'

Each input value is ``ceil(act_bits / 8)`` bytes, each result ``ceil(out_bits / 8)``
bytes, two's complement. Results come back whenever the network produces them, so the
client issues 'W', 'R' and 'S' only when no result is outstanding, and keeps at most
``RX_FIFO_BYTES`` bytes in flight (the board's receive FIFO; a byte that finds it full
is lost).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable

import numpy as np

from jaynes_hw.errors import UserError

CMD_WRITE = ord("W")
CMD_READ = ord("R")
CMD_STREAM = ord("X")
CMD_SYNC = ord("S")
MAX_STREAM_VALUES = 0xFFFF
RX_FIFO_BYTES = 512
DEFAULT_BAUD = 115_200


def value_bytes(bits: int) -> int:
    """Bytes a ``bits``-bit value takes on the link."""
    return (bits + 7) // 8


class LinkError(UserError):
    """The board did not answer as the protocol says (wrong design, baud rate or cable)."""


class HostClient:
    """Drive a board top (``jaynes_hw.boards.BoardTop``) through a byte transport.

    Parameters
    ----------
    port :
        Anything with ``read(n) -> bytes`` (which may return fewer bytes on timeout) and
        ``write(data)``: a ``serial.Serial``, or the simulated UART in the tests.
    n_in, n_out, act_bits, out_bits : int
        The network's first ``n_in`` / ``act_bits`` and last ``n_out`` / ``out_bits``.
    """

    def __init__(self, port, *, n_in: int, n_out: int, act_bits: int, out_bits: int):
        self.port = port
        self.n_in, self.n_out = n_in, n_out
        self.in_bytes, self.out_bytes = value_bytes(act_bits), value_bytes(out_bits)
        self.act_bits, self.out_bits = act_bits, out_bits

    def _read_exactly(self, count: int, what: str) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.port.read(count - len(data))
            if not chunk:
                raise LinkError(
                    f"no answer from the board ({what}: {len(data)} of {count} bytes); check "
                    "the port, the baud rate and that the bitstream is this design"
                )
            data += chunk
        return data

    def sync(self) -> None:
        """Check that the board answers: send 'S' and expect 'S' back."""
        self.port.write(bytes([CMD_SYNC]))
        answer = self._read_exactly(1, "sync")
        if answer[0] != CMD_SYNC:
            raise LinkError(f"the board answered {answer!r} to a sync, not b'S'")

    def write(self, address: int, data: int) -> None:
        self.port.write(struct.pack("<BII", CMD_WRITE, address, data & 0xFFFF_FFFF))
        answer = self._read_exactly(1, "write acknowledge")
        if answer[0] != CMD_WRITE:
            raise LinkError(f"the board answered {answer!r} to a write, not b'W'")

    def read(self, address: int) -> int:
        self.port.write(struct.pack("<BI", CMD_READ, address))
        return struct.unpack("<I", self._read_exactly(4, "read"))[0]

    def play(self, writes: Iterable[tuple[int, int]]) -> int:
        """Perform (address, data) writes in order (a ``LayerDriver`` list); return how many."""
        count = 0
        for address, data in writes:
            self.write(address, data)
            count += 1
        return count

    def infer(self, vectors: np.ndarray) -> np.ndarray:
        """Stream input vectors (count, n_in) through the network; return (count, n_out).

        Vectors are sent in batches small enough for the board's receive FIFO, each batch
        after the results of the one before it have arrived.
        """
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.n_in:
            raise UserError(f"input vectors must have shape (count, {self.n_in})")
        half = 1 << (self.act_bits - 1)
        if vectors.size and (vectors.min() < -half or vectors.max() >= half):
            raise UserError(f"input values must fit {self.act_bits}-bit signed [-{half}, {half})")
        per_batch = max(
            1,
            min(
                (RX_FIFO_BYTES - 3) // (self.n_in * self.in_bytes),
                MAX_STREAM_VALUES // self.n_in,
            ),
        )
        results = []
        for start in range(0, len(vectors), per_batch):
            batch = vectors[start : start + per_batch]
            values = batch.reshape(-1).astype(np.int64)
            payload = b"".join(
                int(value).to_bytes(self.in_bytes, "little", signed=True) for value in values
            )
            self.port.write(struct.pack("<BH", CMD_STREAM, values.size) + payload)
            answer = self._read_exactly(len(batch) * self.n_out * self.out_bytes, "results")
            results.append(self._decode(answer).reshape(len(batch), self.n_out))
        if not results:
            return np.zeros((0, self.n_out), dtype=np.int64)
        return np.concatenate(results)

    def _decode(self, data: bytes) -> np.ndarray:
        width = self.out_bytes
        return np.array(
            [
                int.from_bytes(data[i : i + width], "little", signed=True)
                for i in range(0, len(data), width)
            ],
            dtype=np.int64,
        )

    def wait_idle(self, status_address: int, timeout_s: float = 1.0) -> None:
        """Poll a layer's STATUS until its commit is applied (bit 0 clear)."""
        deadline = time.monotonic() + timeout_s
        while self.read(status_address) & 1:
            if time.monotonic() > deadline:
                raise LinkError("a codebook commit stayed pending on the board")


# --- jaynes-hw run ------------------------------------------------------------------------------


def client_for(port, model) -> HostClient:
    """A client for the network a manifest describes (``NetworkModel``)."""
    first, last = model.layers[0].config, model.layers[-1].config
    return HostClient(
        port, n_in=first.n_in, n_out=last.n_out, act_bits=first.act_bits, out_bits=last.out_bits
    )


def check_identity(client: HostClient, model) -> None:
    """Read every layer's constant registers and compare them with the manifest's design."""
    from jaynes_hw.registers import RegisterMap

    for index, layer in enumerate(model.layers):
        expected = RegisterMap.of(layer.config).constant_registers()
        for offset, value in expected.items():
            found = client.read(layer.base_address + offset)
            if found != value:
                raise LinkError(
                    f"layer {index} register {offset} reads {found:#010x}, the manifest's "
                    f"design has {value:#010x}: the board holds a different design"
                )


def add_arguments(parser) -> None:
    from pathlib import Path

    from jaynes_hw.cli import positive_int

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
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a byte")


def open_serial(name: str, baud: int, timeout: float):
    try:
        import serial
    except ImportError:
        raise UserError("jaynes-hw run needs pyserial: pip install 'jaynes-hw[board]'") from None
    try:
        return serial.Serial(name, baud, timeout=timeout)
    except (serial.SerialException, ValueError) as error:
        raise UserError(f"cannot open {name}: {error}") from None


def run(args, port=None) -> int:
    """Check the board holds the manifest's design, stream vectors, compare with the
    reference. Exit 0 when every output matches, 1 otherwise. ``port``: an open transport
    (tests), else ``args.port`` is opened with pyserial."""
    from jaynes_hw.outputs import atomic_output
    from jaynes_hw.sim.model import NetworkModel

    model = NetworkModel.from_manifest(args.manifest)
    if args.inputs is not None:
        try:
            vectors = np.load(args.inputs, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UserError(f"{args.inputs}: not a .npy array ({error})") from None
        if not np.issubdtype(vectors.dtype, np.integer):
            raise UserError(f"{args.inputs}: input vectors must be integers, not {vectors.dtype}")
    else:
        vectors = model.random_inputs(np.random.default_rng(args.seed), args.vectors)
    if port is None:
        port = open_serial(args.port, args.baud, args.timeout)
    client = client_for(port, model)
    client.sync()
    check_identity(client, model)
    started = time.monotonic()
    outputs = client.infer(vectors)
    seconds = time.monotonic() - started
    expected = model.forward(vectors)
    mismatches = int(np.any(outputs != expected, axis=1).sum())
    if args.out is not None:
        with atomic_output(args.out) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, outputs)
    print(
        f"{len(vectors)} vectors through {model.top} on {args.port} in {seconds:.2f} s: "
        + ("every output matches the reference" if not mismatches else f"{mismatches} differ")
    )
    return 0 if mismatches == 0 else 1
